"""Voice for calls without a microphone: a WAV clip as a live Opus source, a recorder of what arrives, and the
mouth-to-ear measurement that lines the two up.

The sender stamps each 20 ms frame with the monotonic time it was "captured" (due); the receiver stamps each
decoded frame when it is handed to the output. Received audio is matched to sent audio by cross-correlation
(codec delay and any lost start included), so mouth-to-ear = hand-off time - capture time of the same sample,
through the clock-sync offset between the two peers.
"""

from __future__ import annotations

import asyncio
import fractions
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from codecav.errors import CodecavError

VOICE_RATE = 48_000
"""Sample rate of call voice (Opus' native rate)."""
FRAME_SAMPLES = 960
"""Samples per 20 ms voice frame."""


class VoiceFileError(CodecavError):
    """A voice WAV file cannot be used."""


def read_wav_mono(path: Path, rate: int = VOICE_RATE) -> np.ndarray:
    """float32 mono samples of a 16-bit PCM WAV, resampled (linear) to `rate`."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, src_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise VoiceFileError(f"cannot read voice file {path} ({exc}); give a 16-bit PCM WAV") from None
    if width != 2:
        raise VoiceFileError(f"voice file {path} has {8 * width}-bit samples; give a 16-bit PCM WAV")
    samples = np.frombuffer(raw, "<i2").astype(np.float32).reshape(-1, channels).mean(axis=1) / 32768.0
    if src_rate == rate or samples.size == 0:
        return samples
    t_out = np.arange(int(samples.size * rate / src_rate)) / rate
    return np.interp(t_out, np.arange(samples.size) / src_rate, samples).astype(np.float32)


@dataclass
class SentVoice:
    """What a WavVoiceTrack sent: the samples and when each 20 ms frame was captured."""

    samples: list[np.ndarray] = field(default_factory=list)
    """float32 frames of FRAME_SAMPLES, in order."""
    capture_ns: list[int] = field(default_factory=list)
    """Monotonic capture time of each frame's first sample."""

    def stream(self) -> np.ndarray:
        """All sent samples."""
        return np.concatenate(self.samples) if self.samples else np.zeros(0, np.float32)


class WavVoiceTrack(MediaStreamTrack):
    """An aiortc audio track that plays `samples` in a loop in real time, as a microphone would deliver them."""

    kind = "audio"

    def __init__(self, samples: np.ndarray, log: SentVoice | None = None) -> None:
        super().__init__()
        if samples.size == 0:
            raise VoiceFileError("the voice clip is empty")
        self._samples = samples.astype(np.float32)
        self._index = 0
        self._start_ns: int | None = None
        self.log = log if log is not None else SentVoice()

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms frame, at its due time."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start_ns is None:
            self._start_ns = time.monotonic_ns()
        due = self._start_ns + self._index * 20_000_000
        wait = (due - time.monotonic_ns()) / 1e9
        if wait > 0:
            await asyncio.sleep(wait)
        start = (self._index * FRAME_SAMPLES) % self._samples.size
        chunk = np.take(self._samples, np.arange(start, start + FRAME_SAMPLES), mode="wrap")
        self.log.samples.append(chunk)
        self.log.capture_ns.append(time.monotonic_ns())
        pcm = (np.clip(chunk, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = VOICE_RATE
        frame.pts = self._index * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, VOICE_RATE)
        self._index += 1
        return frame


@dataclass
class ReceivedVoice:
    """What arrived from one peer: samples and when each decoded frame was handed to the output."""

    samples: list[np.ndarray] = field(default_factory=list)
    """float32 mono blocks at VOICE_RATE, in arrival order."""
    handoff_ns: list[int] = field(default_factory=list)
    """Monotonic time each block was handed to the output."""

    def stream(self) -> np.ndarray:
        """All received samples."""
        return np.concatenate(self.samples) if self.samples else np.zeros(0, np.float32)


class VoiceRecorder:
    """An audio consumer for CallSession: drains each peer's track, keeping samples and hand-off times."""

    def __init__(self) -> None:
        self.received: dict[str, ReceivedVoice] = {}

    async def consume(self, peer: str, track: MediaStreamTrack) -> None:
        """Read `track` until it ends."""
        log = self.received.setdefault(peer, ReceivedVoice())
        resampler = av.AudioResampler(format="flt", layout="mono", rate=VOICE_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic_ns()
            for out in resampler.resample(frame):  # type: ignore[arg-type]
                log.samples.append(out.to_ndarray().reshape(-1).astype(np.float32))
                log.handoff_ns.append(now)


def stream_offset(received: np.ndarray, sent: np.ndarray, max_lag: int = 3 * VOICE_RATE) -> tuple[int, float]:
    """(K, correlation): received[p] best matches sent[p + K] for K in [-FRAME_SAMPLES, max_lag]; the normalised
    correlation at K says how sure the match is (about 1 for a clean copy, near 0 for unrelated audio)."""
    n = min(received.size, 5 * VOICE_RATE)
    a = received[:n].astype(np.float64)
    b = sent[: n + max_lag + FRAME_SAMPLES].astype(np.float64)
    if n < FRAME_SAMPLES or b.size < n:
        return 0, 0.0
    size = 1 << int(np.ceil(np.log2(a.size + b.size)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)
    lags = np.arange(size)
    lags[lags > size // 2] -= size  # corr[k] = sum a[p] b[p + k]
    valid = (lags >= -FRAME_SAMPLES) & (lags <= max_lag)
    best = int(lags[valid][np.argmax(corr[valid])])
    seg_b = b[max(best, 0): max(best, 0) + n]
    seg_a = a[max(-best, 0): max(-best, 0) + seg_b.size]
    seg_b = seg_b[: seg_a.size]
    denom = float(np.linalg.norm(seg_a) * np.linalg.norm(seg_b)) or 1.0
    return best, float(np.dot(seg_a, seg_b) / denom)


def mouth_to_ear_ns(received: ReceivedVoice, sent: SentVoice, clock_offset_ns: float) -> tuple[np.ndarray, float]:
    """Per received block: hand-off time minus the capture time of its first sample (sender clock mapped onto
    the receiver's by subtracting `clock_offset_ns` = sender - receiver); and the match correlation."""
    rx, tx = received.stream(), sent.stream()
    offset, corr = stream_offset(rx, tx)
    out = []
    position = 0
    for block, handoff in zip(received.samples, received.handoff_ns, strict=True):
        s = position + offset
        frame = s // FRAME_SAMPLES
        if 0 <= frame < len(sent.capture_ns):
            capture = sent.capture_ns[frame] + (s % FRAME_SAMPLES) * 1e9 / VOICE_RATE - clock_offset_ns
            out.append(handoff - capture)
        position += block.size
    return np.asarray(out, np.float64), corr
