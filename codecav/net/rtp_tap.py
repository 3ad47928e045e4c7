"""The adapter over aiortc's audio receiver: take each voice RTP packet before aiortc's jitter buffer.

aiortc has no supported hook for received RTP (its `RTCRtpReceiver` decodes audio through
`JitterBuffer(capacity=16, prefetch=4)`, ~80 ms at best and ~280 ms once a loss has filled it, and queues the
decoded frames without bound in its track). codecav plays voice through its own buffer
(`codecav.net.voice_receiver`), so this module reaches into the receiver. It touches, on one receiver:

- `RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)`: the coroutine the DTLS transport's RTP router
  calls for every packet (`RTCDtlsTransport._handle_rtp_data` looks it up on the receiver each time). It is
  replaced on the instance by a wrapper that hands the packet on (sequence number, RTP timestamp, Opus payload,
  arrival on the call's Clock) and then calls the original, so aiortc's RTCP statistics (receiver reports,
  `getStats`) keep running.
- `RTCRtpReceiver._RTCRtpReceiver__codecs` (name-mangled `__codecs`, payload type -> codec) and
  `RTCRtpReceiver._enabled` (False for a send-only transceiver): read, so only packets of the negotiated Opus
  codec on a receiving transceiver are handed on.
- `RTCRtpReceiver._RTCRtpReceiver__jitter_buffer` (`__jitter_buffer`): with `stop_decoding`, replaced by a stub
  that never releases a frame, so aiortc decodes nothing and nothing queues in its track (the track stays live
  and silent; RTCP still runs).
- `RTCRtpReceiver._RTCRtpReceiver__timestamp_mapper._origin`: read for the baseline path only (`decoded_origin`),
  the RTP timestamp aiortc counts decoded pts from.
- `aiortc.codecs.CODECS["audio"]`: the Opus entry's fmtp parameters are set once per process
  (`negotiate_opus_voice`), since aiortc writes the fmtp of offers and answers from that table and
  `setCodecPreferences` only filters it.

Tested on aiortc 1.16.0 (`TESTED_AIORTC`); with another version the attributes are checked when a receiver is
tapped and a missing one fails with one line naming the tested version (a different version that still has them
is only logged). Tests: tests/net/test_rtp_tap.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiortc
from aiortc import MediaStreamTrack, RTCPeerConnection

from codecav.clock import MONOTONIC, Clock
from codecav.net.errors import NetError
from codecav.net.voice_playout import VoicePacket

log = logging.getLogger(__name__)

TESTED_AIORTC = ("1.16.0",)
"""aiortc versions this adapter was tested on."""
OPUS_VOICE_FMTP: dict[str, int] = {"useinbandfec": 1, "usedtx": 1, "stereo": 0}
"""fmtp parameters codecav negotiates for Opus: in-band FEC and DTX welcome, mono preferred (RFC 7587)."""

_CODECS = "_RTCRtpReceiver__codecs"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_TIMESTAMP_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
_warned_versions: set[str] = set()

VoicePacketHandler = Callable[[VoicePacket], None]
"""Called on the event loop with every Opus packet of a tapped receiver as it arrives."""


class AiortcAdapterError(NetError):
    """The installed aiortc lacks what the voice adapter reaches into."""


class SilentJitterBuffer:
    """Stands in for aiortc's audio JitterBuffer: takes every packet and never releases a frame."""

    capacity = 16
    """As aiortc's audio buffer (read by nothing, kept for the interface)."""

    def add(self, packet: Any) -> tuple[bool, None]:
        """(no picture-loss request, no frame)."""
        return False, None

    def remove(self, count: int) -> None:
        """Nothing is held."""


def check_receiver(receiver: Any) -> None:
    """AiortcAdapterError (one line naming the tested version) unless `receiver` has what the adapter uses."""
    version = str(getattr(aiortc, "__version__", "unknown"))
    missing = [name for name in ("_handle_rtp_packet", "_enabled", _CODECS, _JITTER_BUFFER, _TIMESTAMP_MAPPER)
               if not hasattr(receiver, name)]
    if missing:
        raise AiortcAdapterError(
            f"aiortc {version} has no RTCRtpReceiver.{missing[0]}; codecav's voice receive path was tested on aiortc "
            f"{', '.join(TESTED_AIORTC)}: install that version, or set CallConfig.voice_path='aiortc'")
    if version not in TESTED_AIORTC and version not in _warned_versions:
        _warned_versions.add(version)
        log.warning("aiortc %s: codecav's voice adapter was tested on %s only", version, ", ".join(TESTED_AIORTC))


class ReceiverTap:
    """One tapped audio receiver: hands each Opus packet to `on_packet` before aiortc's jitter buffer."""

    def __init__(self, receiver: Any, on_packet: VoicePacketHandler, errors: list[str], *,
                 clock: Clock = MONOTONIC, stop_decoding: bool = True) -> None:
        """Tap `receiver` (an RTCRtpReceiver of kind audio); with `stop_decoding` aiortc decodes nothing.
        Arrivals are stamped on `clock` (the call's); handler errors are appended to `errors`, never raised."""
        check_receiver(receiver)
        self.receiver = receiver
        """The aiortc receiver."""
        self.packets = 0
        """Opus packets handed on."""
        self._on_packet = on_packet
        self._errors = errors
        self._clock = clock
        self._handle = receiver._handle_rtp_packet
        if stop_decoding:
            setattr(receiver, _JITTER_BUFFER, SilentJitterBuffer())
        receiver._handle_rtp_packet = self._handle_rtp_packet

    def _is_opus(self, payload_type: int) -> bool:
        codec = getattr(self.receiver, _CODECS).get(payload_type)
        return codec is not None and str(codec.mimeType).lower() == "audio/opus"

    async def _handle_rtp_packet(self, packet: Any, arrival_time_ms: int) -> None:
        arrival_ns = self._clock.now_ns()  # the call's clock; aiortc's arrival_time_ms is its own
        if self.receiver._enabled and packet.payload and self._is_opus(packet.payload_type):
            try:
                self.packets += 1
                self._on_packet(VoicePacket(int(packet.sequence_number), int(packet.timestamp), bytes(packet.payload),
                                            arrival_ns))
            except Exception as exc:  # a handler bug must not stop the voice or aiortc's statistics
                self._errors.append(f"{type(exc).__name__}: {exc}")
        await self._handle(packet, arrival_time_ms=arrival_time_ms)

    def decoded_origin(self) -> int | None:
        """The RTP timestamp aiortc counts decoded pts from (None until its jitter buffer released a frame)."""
        origin = getattr(getattr(self.receiver, _TIMESTAMP_MAPPER), "_origin", None)
        return None if origin is None else int(origin)


def tap_audio_track(pc: RTCPeerConnection, track: MediaStreamTrack, on_packet: VoicePacketHandler,
                    errors: list[str], *, clock: Clock = MONOTONIC, stop_decoding: bool = True) -> ReceiverTap:
    """Tap the receiver of the remote audio `track` of `pc` (call from the 'track' event, before packets flow)."""
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return ReceiverTap(transceiver.receiver, on_packet, errors, clock=clock, stop_decoding=stop_decoding)
    raise NetError(f"no receiver of this connection carries track {track.id}; tap it from the 'track' event")


def negotiate_opus_voice() -> None:
    """Make every offer and answer of this process carry OPUS_VOICE_FMTP for Opus (idempotent, process-wide).

    aiortc writes the fmtp line from its codec table; its own Opus decoder ignores these parameters, so the
    baseline path (CallConfig.voice_path='aiortc') is unaffected."""
    from aiortc.codecs import CODECS

    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update(OPUS_VOICE_FMTP)
