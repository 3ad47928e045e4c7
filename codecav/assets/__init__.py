"""codecav.assets"""
