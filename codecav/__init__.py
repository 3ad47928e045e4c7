"""codecav: client and runtime engine for VR telepresence with codec avatars."""

__version__ = "0.1.0"
