"""codecav.training"""
