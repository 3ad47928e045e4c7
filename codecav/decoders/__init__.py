"""codecav.decoders"""
