"""Base exception of codecav; each subsystem derives its own small hierarchy from it."""


class CodecavError(Exception):
    """An error a user can act on: its message is one line that names the problem and the fix."""
