"""Receiver-side decoding that never raises: invalid messages are dropped and counted by reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from codecav.assets.package import CodeQuantTable, LatentLayout
from codecav.latent import LatentFrame
from codecav.net.errors import MalformedMessageError, WireFormatError
from codecav.net.wire.control import ControlMessage, decode_control_message
from codecav.net.wire.frames import check_layout, decode_latent_frame
from codecav.net.wire.frames_v2 import WIRE_VERSION_V2, LatentStreamDecoder

T = TypeVar("T")


@dataclass
class WireStats:
    """Counters of one receiving channel (mutable: the receiver updates it in place)."""

    accepted: int = 0
    """Messages decoded and handed on."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Dropped messages by WireFormatError.reason (e.g. 'truncated', 'invalid_field')."""
    last_error: str = ""
    """Message of the most recent drop, for logs and debug overlays."""

    @property
    def total_dropped(self) -> int:
        """All dropped messages."""
        return sum(self.dropped.values())

    def decode(self, decode: Callable[[bytes], T], data: bytes | str) -> T | None:
        """`decode(data)`, counting the result; None (and a counted drop) for invalid input."""
        try:
            if isinstance(data, str):
                raise MalformedMessageError("message arrived as text; codecav channels carry binary msgpack")
            value = decode(data)
        except WireFormatError as exc:
            self.dropped[exc.reason] = self.dropped.get(exc.reason, 0) + 1
            self.last_error = str(exc)
            return None
        self.accepted += 1
        return value


class LatentFrameReceiver:
    """Decodes the latent channel of one remote avatar, v1 or v2 per message (a v2 frame starts with byte 2, a v1
    frame with a msgpack map); v2 needs the sender avatar's quant table and keeps that sender's key frames.
    Invalid messages, and v2 deltas whose key frame is missing ('no_reference'), are counted in `stats`."""

    def __init__(self, layout: LatentLayout, table: CodeQuantTable | None = None) -> None:
        check_layout(layout)
        self.layout = layout
        self.stats = WireStats()
        self.stream = LatentStreamDecoder(layout, table)
        """The v2 decoding state of this sender (its key frames)."""

    def _decode(self, raw: bytes) -> LatentFrame:
        if raw[:1] == bytes([WIRE_VERSION_V2]):
            return self.stream.decode(raw)
        return decode_latent_frame(raw, self.layout)

    def receive(self, data: bytes | str) -> LatentFrame | None:
        """The decoded frame, or None when the message was invalid (and counted)."""
        return self.stats.decode(self._decode, data)


class ControlMessageReceiver:
    """Decodes the reliable control channel; invalid messages are counted in `stats`."""

    def __init__(self) -> None:
        self.stats = WireStats()

    def receive(self, data: bytes | str) -> ControlMessage | None:
        """The decoded message, or None when it was invalid (and counted)."""
        return self.stats.decode(decode_control_message, data)
