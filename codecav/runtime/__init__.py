"""codecav.runtime"""
