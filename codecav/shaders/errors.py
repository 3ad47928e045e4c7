"""Errors of the shader layer: bad sources (preprocessing) and driver compile/link failures."""

from __future__ import annotations

from codecav.errors import CodecavError


class ShaderSourceError(CodecavError):
    """A .glsl source cannot be preprocessed: missing file, include cycle or undefined template variable."""


class ShaderCompileError(CodecavError):
    """The GL driver rejected a program; the message names the .glsl file and line of each error."""
