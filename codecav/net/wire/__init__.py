"""Wire formats (pure parse/serialize): latent frames, their quantizers, control messages."""
