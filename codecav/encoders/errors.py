"""Errors of the encoder layer (sources, drivers, encoders): one line naming the problem and the fix."""

from __future__ import annotations

from codecav.errors import CodecavError


class DriverError(CodecavError):
    """Base of every encoder-layer error a user can act on."""


class MissingEncoderError(DriverError):
    """An avatar package lacks the encoder model a driver needs (e.g. encoders/expression.onnx)."""


class EncoderModelError(DriverError):
    """An encoder/driver ONNX model has the wrong inputs or outputs, or cannot be loaded."""


class AudioDeviceError(DriverError):
    """A microphone cannot be found or opened."""


class SourceSpecError(DriverError):
    """A --source spec names an unknown source or has bad options."""


class ClipError(DriverError):
    """A recorded clip (audio, expression or HMC file) is missing or malformed."""


def one_line(text: object) -> str:
    """Collapse whitespace (third-party messages carry newlines) so messages stay on one line."""
    return " ".join(str(text).split())
