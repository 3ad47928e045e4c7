"""Voice: an Opus track from a WAV file or a microphone, and the receiving side's playout aligned with the face.

Sending: `VoiceTrack` yields 20 ms mono 48 kHz s16 AudioFrames paced in real time from a PcmFeed (WAV or
microphone); aiortc encodes them as Opus. `capture_us_of(pts)` gives each frame's capture time.

Receiving: aiortc decodes Opus to AudioFrames whose pts is the RTP timestamp (48 kHz, random origin). Lip-sync
works on capture times: `VoicePlayout` estimates the sender capture time of every audio sample as
`pts / 48 kHz + anchor`, where the anchor is the minimum over frames of (arrival - pts time) minus the latent
channel's minimum transit on the same transport (both media share the DTLS/UDP path, so the fastest audio
frame and the fastest latent frame took the same time). Audio captured at C is then played at C + D, with D
the face jitter buffer's playout delay, so voice and face shown together were captured together.
"""

from __future__ import annotations

import fractions
import itertools
import threading
import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from codecav.clock import MONOTONIC, Clock
from codecav.errors import CodecavError

SAMPLE_RATE = 48_000
"""Voice sample rate on both sides (Opus's native rate)."""
FRAME_SAMPLES = 960
"""Samples per sent frame (20 ms, the usual Opus frame)."""
RECENT_LAG_FRAMES = 250
"""Decoded voice frames (5 s) whose lag behind their packets sets the voice path's needed delay."""


class VoiceError(CodecavError):
    """A voice file or device cannot be used."""


def read_wav_mono_48k(path: Path | str) -> np.ndarray:
    """float32 mono samples at 48 kHz from a PCM WAV (8/16/32-bit, any rate, channels averaged); VoiceError."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        raise VoiceError(f"cannot read voice file {path} ({exc}); give a PCM .wav file") from None
    dtype = {1: "u1", 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:
        raise VoiceError(f"voice file {path} has {8 * width}-bit samples; use 8, 16 or 32-bit PCM")
    data = np.frombuffer(raw, dtype).astype(np.float32)
    data = (data - 128.0) / 128.0 if width == 1 else data / float(2 ** (8 * width - 1))
    mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data
    if rate != SAMPLE_RATE and mono.size:
        positions = np.arange(int(mono.size * SAMPLE_RATE / rate)) * (rate / SAMPLE_RATE)
        mono = np.interp(positions, np.arange(mono.size), mono).astype(np.float32)
    return mono.astype(np.float32)


PcmFeed = Callable[[int], np.ndarray | None]
"""Returns the next `n` float32 mono samples at 48 kHz, or None at the end."""


def wav_feed(samples: np.ndarray, loop: bool = True) -> PcmFeed:
    """A PcmFeed over `samples`, looping (or ending) at the end."""
    position = 0

    def feed(n: int) -> np.ndarray | None:
        nonlocal position
        if samples.size == 0 or (not loop and position >= samples.size):
            return None
        out = np.zeros(n, np.float32)
        filled = 0
        while filled < n:
            if position >= samples.size:
                if not loop:
                    break
                position = 0
            take = min(n - filled, samples.size - position)
            out[filled : filled + take] = samples[position : position + take]
            filled += take
            position += take
        return out

    return feed


class VoiceTrack(MediaStreamTrack):
    """Outgoing voice: 20 ms s16 mono frames from a PcmFeed, paced by `clock` from the first recv."""

    kind = "audio"

    def __init__(self, feed: PcmFeed, *, clock: Clock = MONOTONIC) -> None:
        """`clock` paces the frames and stamps capture times (FakeClock in tests)."""
        super().__init__()
        self._feed = feed
        self._clock = clock
        self._start_us: int | None = None
        self._sent = 0

    def capture_us_of(self, pts: int) -> int | None:
        """Capture time (µs on the track's clock) of the sample at `pts` (48 kHz), once the track started."""
        return None if self._start_us is None else self._start_us + pts * 1_000_000 // SAMPLE_RATE

    async def recv(self) -> AudioFrame:
        """The next frame, at its due time."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start_us is None:
            self._start_us = self._clock.now_us()
        due_us = self._start_us + self._sent * 1_000_000 // SAMPLE_RATE
        wait_us = due_us - self._clock.now_us()
        if wait_us > 0:
            await self._clock.sleep_ns_async(wait_us * 1000)
        pcm = self._feed(FRAME_SAMPLES)
        if pcm is None:
            self.stop()
            raise MediaStreamError
        frame = AudioFrame.from_ndarray(
            np.clip(pcm * 32767.0, -32768, 32767).astype("<i2").reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent += FRAME_SAMPLES
        return frame


class MicrophoneFeed:
    """A PcmFeed from a PortAudio input at 48 kHz mono (sounddevice); VoiceError if the device fails."""

    def __init__(self, device: int | str | None = None) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:
            raise VoiceError(f"PortAudio is not available ({exc}); apt-get install libportaudio2") from None
        self._lock = threading.Lock()
        self._buffer = np.zeros(0, np.float32)
        try:
            self._stream = sd.InputStream(device=device, channels=1, samplerate=SAMPLE_RATE, dtype="float32",
                                          blocksize=FRAME_SAMPLES // 2, callback=self._callback)
            self._stream.start()
        except Exception as exc:  # PortAudioError and friends
            raise VoiceError(f"cannot open microphone {device!r} at 48 kHz ({exc}); list devices with "
                             "`python -m sounddevice`") from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        with self._lock:  # keep at most 200 ms: a stalled sender must not build delay
            self._buffer = np.concatenate([self._buffer, indata[:, 0]])[-SAMPLE_RATE // 5 :]

    def __call__(self, n: int) -> np.ndarray | None:
        """The oldest `n` samples buffered, zero-padded when the device is behind."""
        with self._lock:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return np.pad(out, (0, n - out.size)).astype(np.float32)

    def close(self) -> None:
        """Stop the input stream."""
        self._stream.stop()
        self._stream.close()


class VoicePlayout:
    """Received voice keyed by estimated capture time (pure apart from a lock): `push` on arrival, `pull` at play
    time with the face's playout delay. Times are µs on the receiver's call clock."""

    def __init__(self, seconds_kept: float = 2.0) -> None:
        self._lock = threading.Lock()
        self._kept = int(seconds_kept * SAMPLE_RATE)
        self._samples = np.zeros(0, np.float32)
        self._first_pts: int | None = None  # pts of _samples[0]
        self._anchor_min_us: float | None = None  # from decoded frames: the fallback
        self._packet_anchor_us: float | None = None  # from packet arrivals, RTP time relative to _rtp_first
        self._rtp_first: int | None = None
        self._mapper_origin: int | None = None
        self.frames = 0
        """Frames pushed."""
        self.lags_us: deque[float] = deque(maxlen=6000)
        """Per decoded frame: how much later it reached codecav than its packet's fastest path (aiortc's receive
        buffering plus any backlog); growth means the receiver is falling behind."""
        self.samples_played = 0
        """Samples returned by pull that were received audio (not silence)."""

    def _anchor(self, anchor: float) -> None:
        self._anchor_min_us = anchor if self._anchor_min_us is None else min(self._anchor_min_us, anchor)

    def note_packet(self, rtp_timestamp: int, arrival_us: int, decoded_origin: int | None = None) -> None:
        """An RTP packet of FRAME_SAMPLES arrived off the network (before any receive buffering): the precise
        anchor, which then replaces the decoded-frame one. aiortc gives decoded frames pts = RTP timestamp -
        `decoded_origin` (the timestamp of the first frame its jitter buffer released, not necessarily the first
        packet: at start-up it may drop packets); pass it once known."""
        with self._lock:
            if self._rtp_first is None:
                self._rtp_first = rtp_timestamp
            if decoded_origin is not None:
                self._mapper_origin = decoded_origin
            relative = (rtp_timestamp - self._rtp_first) % 2**32
            anchor = arrival_us - (relative + FRAME_SAMPLES) * 1e6 / SAMPLE_RATE
            self._packet_anchor_us = anchor if self._packet_anchor_us is None else min(self._packet_anchor_us, anchor)

    def _decoded_anchor(self) -> float | None:
        """capture time of decoded pts 0 plus the path's fastest transit (receiver clock), best source first."""
        if self._packet_anchor_us is None or self._rtp_first is None:
            return self._anchor_min_us
        origin = self._rtp_first if self._mapper_origin is None else self._mapper_origin
        anchor = self._packet_anchor_us + ((origin - self._rtp_first) % 2**32) * 1e6 / SAMPLE_RATE
        # Decoded frames arrive after their packets (receive buffering, tens of ms), never long before or after.
        # A larger gap means the packet timestamps were mapped to the wrong decoded origin (aiortc dropped
        # packets at start-up before the origin was known): then the decoded-frame anchor, late by the
        # buffering but consistent with the decoded pts, is the one to trust.
        if self._anchor_min_us is not None and not -0.05e6 <= self._anchor_min_us - anchor <= 0.5e6:
            return self._anchor_min_us
        return anchor

    def push(self, pts: int, arrival_us: int, pcm: np.ndarray) -> None:
        """Add a decoded frame: `pts` in 48 kHz samples (RTP timestamp), mono float32 samples."""
        with self._lock:
            self.frames += 1
            # later than the packet by the receive buffering: a fallback until packets are noted
            self._anchor(arrival_us - (pts + pcm.size) * 1e6 / SAMPLE_RATE)
            anchor = self._decoded_anchor()
            if self._packet_anchor_us is not None and anchor is not None:
                self.lags_us.append(arrival_us - (pts + pcm.size) * 1e6 / SAMPLE_RATE - anchor)
            if self._first_pts is None:
                self._first_pts = pts
            offset = pts - self._first_pts
            end = offset + pcm.size
            if offset < 0:
                return  # older than what is kept
            if end > self._samples.size:
                self._samples = np.pad(self._samples, (0, end - self._samples.size))
            self._samples[offset:end] = pcm
            if self._samples.size > self._kept:
                drop = self._samples.size - self._kept
                self._samples = self._samples[drop:]
                self._first_pts += drop

    def needed_delay_us(self, quantile: float = 0.95, margin_us: float = 10_000.0) -> float | None:
        """The playout delay (after capture, beyond the path's fastest transit) at which received voice has been
        decoded in time: a frame's last sample is captured 20 ms after its first, then aiortc's receive buffering
        (`lags_us`, ~80 ms: it prefetches 4 packets), plus `margin_us` for the output block. None before data."""
        with self._lock:
            if len(self.lags_us) < 10:
                return None
            # The recent frames only (RECENT_LAG_FRAMES, 5 s): the lags of a start-up stall (models loading
            # beside the network thread) would otherwise hold the face back for the whole history kept.
            recent = list(itertools.islice(reversed(self.lags_us), RECENT_LAG_FRAMES))
            lag = float(np.quantile(np.asarray(recent, float), quantile))
        return FRAME_SAMPLES * 1e6 / SAMPLE_RATE + lag + margin_us

    def capture_us(self, pts: int, latent_min_transit_us: float) -> float | None:
        """Estimated sender capture time (receiver clock) of the sample at `pts`."""
        with self._lock:
            anchor = self._decoded_anchor()
            if anchor is None:
                return None
            return pts * 1e6 / SAMPLE_RATE + anchor - latent_min_transit_us

    def pull(self, play_us: float, n: int, playout_delay_us: float, latent_min_transit_us: float) -> np.ndarray:
        """`n` samples to start playing at `play_us`: those captured at play_us - playout_delay_us (silence where
        none was received)."""
        out = np.zeros(n, np.float32)
        with self._lock:
            anchor = self._decoded_anchor()
            if anchor is None or self._first_pts is None:
                return out
            capture = play_us - playout_delay_us
            pts = (capture - anchor + latent_min_transit_us) * SAMPLE_RATE / 1e6
            start = int(round(pts)) - self._first_pts
            lo, hi = max(start, 0), min(start + n, self._samples.size)
            if hi > lo:
                out[lo - start : hi - start] = self._samples[lo:hi]
                self.samples_played += hi - lo
        return out


async def consume_voice(track: MediaStreamTrack, playout: VoicePlayout, clock: Clock = MONOTONIC) -> None:
    """Receive a remote voice track into `playout` until it ends (mono mix of aiortc's decoded frames), each
    stamped with its arrival on `clock` (the call's clock)."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if not isinstance(frame, AudioFrame) or frame.pts is None:
            continue
        arrival = clock.now_us()
        data = frame.to_ndarray().astype(np.float32) / 32768.0
        channels = len(frame.layout.channels)
        mono = data.reshape(-1, channels).mean(axis=1) if frame.format.is_packed else data.mean(axis=0)
        # aiortc hands us the frame's time: pts from the RTP timestamp (48 kHz, random origin); kept as given.
        pts = int(frame.pts * SAMPLE_RATE * frame.time_base) if frame.time_base is not None else int(frame.pts)
        playout.push(pts, arrival, mono.astype(np.float32))
