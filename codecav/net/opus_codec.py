"""libopus for codecav's own voice receive path: decode, packet-loss concealment (PLC) and in-band FEC.

This is the codec of a call's voice on both sides: `codecav.net.voice.VoiceTrack` sends the packets of an
`OpusVoiceEncoder` (aiortc only packs them into RTP), and `codecav.net.voice_receiver.VoiceReceiver` decodes,
conceals and recovers them under `codecav.net.voice_playout`, the adaptive playout buffer that replaces aiortc's
audio jitter buffer (issue 12).

Why `opuslib-next` (a ctypes binding over Debian's `libopus0`) and not PyAV: PyAV's Opus decoder decodes the
packets it is given but cannot be asked to conceal a missing packet (libopus decode with no data) or to
recover it from the next packet's in-band FEC (`decode_fec=1`); both are what a voice jitter buffer needs.
All audio is 48 kHz mono, Opus's native rate; one decoder or encoder keeps the state of one stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from codecav.net.errors import NetError

OPUS_SAMPLE_RATE = 48_000
"""Sample rate of every Opus stream here (RTP timestamps of Opus also count at 48 kHz)."""
OPUS_MAX_PACKET_SAMPLES = 5_760
"""Longest Opus packet, 120 ms at 48 kHz: the output room given to libopus for one packet."""
OPUS_GRANULE_SAMPLES = 120
"""2.5 ms at 48 kHz: concealed and FEC-recovered lengths must be whole multiples of this."""

PcmType = Literal["float32", "int16"]
"""Sample type of decoded PCM: float32 in [-1, 1] or int16."""


class OpusError(NetError):
    """An Opus codec error; the message is one line that says what to fix."""


class OpusUnavailableError(OpusError):
    """libopus or its Python binding cannot be loaded."""


class OpusPacketError(OpusError):
    """A payload is not a valid Opus packet (libopus refused it); the playout buffer conceals it instead."""


def _import_binding() -> Any:
    """Import the binding (it loads libopus with ctypes on import)."""
    import opuslib_next

    return opuslib_next


def _opuslib() -> Any:
    """The `opuslib_next` module; OpusUnavailableError naming the fix when it or libopus is missing."""
    try:
        return _import_binding()
    except ImportError:
        raise OpusUnavailableError("the Python package opuslib-next is missing; pip install -e . "
                                   "(or pip install opuslib-next)") from None
    except Exception as exc:  # the binding raises a bare Exception when it cannot find libopus
        raise OpusUnavailableError(f"libopus cannot be loaded ({exc}); apt-get install libopus0") from None


def opus_available() -> bool:
    """True when libopus and its binding load (tests skip with a reason otherwise)."""
    try:
        _opuslib()
    except OpusUnavailableError:
        return False
    return True


def _check_granule(samples: int, what: str) -> None:
    if samples <= 0 or samples % OPUS_GRANULE_SAMPLES or samples > OPUS_MAX_PACKET_SAMPLES:
        raise ValueError(f"{what} of {samples} samples: libopus needs a positive multiple of "
                         f"{OPUS_GRANULE_SAMPLES} (2.5 ms) up to {OPUS_MAX_PACKET_SAMPLES}")


class OpusVoiceDecoder:
    """One stream's libopus decoder state: 48 kHz mono PCM from packets, concealment and in-band FEC."""

    def __init__(self, pcm_type: PcmType = "float32") -> None:
        """A fresh decoder; OpusUnavailableError when libopus is missing."""
        if pcm_type not in ("float32", "int16"):
            raise ValueError(f"pcm_type {pcm_type!r} is not 'float32' or 'int16'")
        opuslib = _opuslib()
        self.pcm_type: PcmType = pcm_type
        """Sample type of the PCM returned."""
        self._opus_error: type[Exception] = opuslib.OpusError
        self._decoder = opuslib.Decoder(OPUS_SAMPLE_RATE, 1)

    def _run(self, payload: bytes, samples: int, fec: bool) -> np.ndarray:
        try:
            if self.pcm_type == "float32":
                raw = self._decoder.decode_float(payload, samples, fec)
            else:
                raw = self._decoder.decode(payload, samples, fec)
        except self._opus_error as exc:
            raise OpusPacketError(f"libopus refused a {len(payload)}-byte payload ({exc}); "
                                  "it is not an Opus packet of this stream") from None
        return np.frombuffer(raw, np.float32 if self.pcm_type == "float32" else np.int16).copy()

    def decode(self, payload: bytes) -> np.ndarray:
        """The PCM of one packet (its own length: 2.5 to 120 ms); OpusPacketError for an invalid payload."""
        if not payload:
            raise OpusPacketError("an empty payload is not an Opus packet; call conceal() for a missing one")
        return self._run(bytes(payload), OPUS_MAX_PACKET_SAMPLES, False)

    def conceal(self, samples: int) -> np.ndarray:
        """`samples` of libopus PLC for audio that is missing (a multiple of 2.5 ms; comfort noise after DTX)."""
        _check_granule(samples, "concealment")
        return self._run(b"", samples, False)

    def decode_fec(self, next_payload: bytes, samples: int) -> np.ndarray:
        """The lost frame just before `next_payload`, from that packet's in-band FEC (`samples` long).

        libopus falls back to PLC when the packet carries no FEC. Decode `next_payload` normally afterwards.
        """
        _check_granule(samples, "FEC recovery")
        if not next_payload:
            raise OpusPacketError("an empty payload carries no FEC; call conceal() instead")
        return self._run(bytes(next_payload), samples, True)

    def reset(self) -> None:
        """Forget the stream's history (a new stream starts)."""
        self._decoder.reset_state()


@dataclass(frozen=True)
class OpusEncoderConfig:
    """How an OpusVoiceEncoder encodes: what the send side of a call should negotiate too."""

    bitrate: int = 24_000
    """Target bits per second (voice: 16-32 kbps)."""
    frame_ms: float = 20.0
    """Audio per packet: 2.5, 5, 10, 20, 40 or 60 ms."""
    fec: bool = True
    """In-band FEC: each packet also carries a coarse copy of the previous frame (SILK/hybrid modes)."""
    expected_loss_percent: int = 10
    """Packet loss the encoder plans for (0-100); FEC is only spent when this is above zero."""
    dtx: bool = False
    """Discontinuous transmission: during silence send a 1-2 byte packet about every 400 ms."""
    complexity: int = 9
    """Encoder effort, 0 (fastest) to 10."""

    def __post_init__(self) -> None:
        """Reject values libopus would refuse."""
        if not 6_000 <= self.bitrate <= 510_000:
            raise ValueError(f"bitrate {self.bitrate} is outside libopus' 6000-510000 bit/s")
        if self.frame_ms not in (2.5, 5.0, 10.0, 20.0, 40.0, 60.0):
            raise ValueError(f"frame_ms {self.frame_ms} is not one of 2.5, 5, 10, 20, 40, 60")
        if not 0 <= self.expected_loss_percent <= 100:
            raise ValueError(f"expected_loss_percent {self.expected_loss_percent} is outside 0-100")
        if not 0 <= self.complexity <= 10:
            raise ValueError(f"complexity {self.complexity} is outside 0-10")

    @property
    def frame_samples(self) -> int:
        """Samples per packet at 48 kHz."""
        return round(self.frame_ms * OPUS_SAMPLE_RATE / 1000)


class OpusVoiceEncoder:
    """A libopus encoder for voice (VOIP application, mono 48 kHz): for tests, benchmarks and the send side."""

    def __init__(self, config: OpusEncoderConfig | None = None) -> None:
        """A fresh encoder; OpusUnavailableError when libopus is missing."""
        opuslib = _opuslib()
        self.config = config or OpusEncoderConfig()
        """How it encodes."""
        self._encoder = opuslib.Encoder(OPUS_SAMPLE_RATE, 1, opuslib.APPLICATION_VOIP)
        self._encoder.bitrate = self.config.bitrate
        self._encoder.complexity = self.config.complexity
        self._encoder.signal = opuslib.SIGNAL_VOICE
        self._encoder.inband_fec = int(self.config.fec)
        self._encoder.packet_loss_perc = self.config.expected_loss_percent
        self._encoder.dtx = int(self.config.dtx)

    @property
    def lookahead_samples(self) -> int:
        """Codec delay: decoded audio lags the input by this many samples."""
        return int(self._encoder.lookahead)

    def encode(self, pcm: np.ndarray) -> bytes:
        """One packet from exactly `frame_samples` mono samples (float32 in [-1, 1] or int16).

        With DTX on, packets of at most 2 bytes during silence need not be sent (`is_dtx_packet`).
        """
        samples = self.config.frame_samples
        if pcm.ndim != 1 or pcm.shape[0] != samples:
            raise ValueError(f"encode takes {samples} mono samples ({self.config.frame_ms} ms); got shape "
                             f"{pcm.shape}")
        if pcm.dtype == np.int16:
            return bytes(self._encoder.encode(pcm.tobytes(), samples))
        return bytes(self._encoder.encode_float(np.ascontiguousarray(pcm, np.float32).tobytes(), samples))


def is_dtx_packet(payload: bytes) -> bool:
    """True for a DTX packet (silence, at most 2 bytes): no audio, the decoder generates comfort noise."""
    return len(payload) <= 2

