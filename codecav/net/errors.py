"""Errors of the network layer: wire-format parsing, signaling, join tokens."""

from __future__ import annotations

from codecav.errors import CodecavError


class NetError(CodecavError):
    """Base of every error raised by `codecav.net`."""


class WireFormatError(NetError):
    """A received message is not a valid codecav wire message; `reason` is a short stable key for counters."""

    reason = "invalid"


class MessageTooLargeError(WireFormatError):
    """The message is longer than the format allows."""

    reason = "too_large"


class TruncatedMessageError(WireFormatError):
    """The msgpack data ended before the message did."""

    reason = "truncated"


class MalformedMessageError(WireFormatError):
    """Not a msgpack map within the limits (bad bytes, trailing data, ext types, wrong top-level type)."""

    reason = "malformed"


class UnsupportedVersionError(WireFormatError):
    """The message carries a format version this code does not read."""

    reason = "version"


class MissingFieldError(WireFormatError):
    """A required field is absent."""

    reason = "missing_field"


class InvalidFieldError(WireFormatError):
    """A field has the wrong type, size or range, or holds NaN/inf."""

    reason = "invalid_field"


class LayoutMismatchError(WireFormatError):
    """The code length or segment count does not match the receiver's latent layout."""

    reason = "layout"


class UnknownMessageTypeError(WireFormatError):
    """A control message names a type this code does not know."""

    reason = "unknown_type"


class WireEncodeError(NetError):
    """A frame or message cannot be encoded (out-of-range or non-finite values, wrong sizes)."""


class SignalingError(NetError):
    """A signaling message was refused or the signaling connection failed."""


class JoinTokenError(SignalingError):
    """A join token is malformed, expired or signed for another room, peer or secret."""
