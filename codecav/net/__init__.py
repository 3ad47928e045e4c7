"""codecav.net"""
