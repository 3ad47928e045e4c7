"""Argument types shared by the commands."""

from __future__ import annotations

from codecav.errors import CodecavError


class UsageError(CodecavError):
    """A command-line argument is malformed."""


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' -> (512, 384); UsageError naming the expected form otherwise."""
    try:
        w_text, h_text = text.lower().split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        raise UsageError(f"size {text!r} is not WIDTHxHEIGHT; write e.g. --size 512x512") from None
    if not (8 <= width <= 8192 and 8 <= height <= 8192):
        raise UsageError(f"size {text!r} is out of range; use 8..8192 pixels per side")
    return width, height
