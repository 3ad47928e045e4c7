"""Decoders: the neural decoder (ONNX) and the renderers that turn decoded frames into pixels.

`get_renderer(name)` is the one lookup of renderer classes: 'pica' (per-pixel MLP in the fragment
shader) and 'full_texture' (the DAM baseline); both are called as `cls(ctx, options=None)`.
"""

from __future__ import annotations

from collections.abc import Callable

import moderngl

from codecav.decoders.base import AvatarDraw, AvatarHandle, AvatarRenderer, DecodedFrame, NeuralDecoder

__all__ = ["RENDERERS", "AvatarDraw", "AvatarHandle", "AvatarRenderer", "DecodedFrame", "NeuralDecoder",
           "get_renderer"]

RENDERERS = ("pica", "full_texture")
"""Keys get_renderer knows."""


def get_renderer(name: str) -> Callable[[moderngl.Context], AvatarRenderer]:
    """The renderer class registered under `name`; ValueError naming the key and the known ones."""
    if name == "pica":
        from codecav.decoders.pica_gl import PicaRenderer

        return PicaRenderer
    if name == "full_texture":
        from codecav.decoders.full_texture import FullTextureRenderer

        return FullTextureRenderer
    raise ValueError(f"unknown renderer {name!r}; choose one of {', '.join(RENDERERS)}")
