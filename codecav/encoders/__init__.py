"""codecav.encoders"""
