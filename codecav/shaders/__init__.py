"""GLSL sources of codecav, loaded by codecav.shaders.loader."""
