"""codecav.xr"""
