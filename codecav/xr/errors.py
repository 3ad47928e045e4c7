"""Errors of the render-target backends."""

from codecav.errors import CodecavError


class RenderTargetError(CodecavError):
    """A render target could not be created (no GL driver, no display, no OpenXR runtime)."""
