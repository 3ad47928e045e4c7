"""Voice, sending side: Opus packets from a WAV file or a microphone; the receiving side is elsewhere.

`VoiceTrack` reads 20 ms of mono 48 kHz PCM at a time from a PcmFeed (WAV or microphone), paced in real time,
and encodes it with libopus (`codecav.net.opus_codec.OpusVoiceEncoder`: VOIP application, in-band FEC, DTX, a
voice bitrate), so aiortc only packs the packets into RTP (aiortc 1.16 `RTCRtpSender._next_encoded_frame` sends
an `av.Packet` as it is). Packet pts count samples from the track's start on its capture clock, so RTP
timestamps advance with capture time (aiortc adds a random origin); DTX packets (silence) are not sent, which
leaves a timestamp gap with consecutive sequence numbers. `capture_us_of(pts)` gives each sample's capture time.

Receiving: `codecav.net.voice_receiver` (codecav's own path) or `codecav.net.voice_baseline` (aiortc's decoded
frames); `codecav.net.rtp_tap` takes the packets from aiortc.
"""

from __future__ import annotations

import fractions
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.packet import Packet

from codecav.clock import MONOTONIC, Clock
from codecav.errors import CodecavError
from codecav.net.opus_codec import OpusEncoderConfig, OpusVoiceEncoder, is_dtx_packet

SAMPLE_RATE = 48_000
"""Voice sample rate on both sides (Opus's native rate)."""
FRAME_SAMPLES = 960
"""Samples per sent frame (20 ms, the usual Opus frame)."""
VOICE_ENCODER = OpusEncoderConfig(bitrate=28_000, frame_ms=20.0, fec=True, expected_loss_percent=10, dtx=True)
"""How call voice is encoded: mono VOIP at a voice bitrate, 20 ms frames, in-band FEC planned for 10 % loss,
DTX (what the SDP fmtp announces: useinbandfec=1; usedtx=1; stereo=0)."""


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
    """Outgoing voice: a 20 ms Opus packet (av.Packet) per frame of a PcmFeed, paced by `clock` from the first recv."""

    kind = "audio"

    def __init__(self, feed: PcmFeed, *, clock: Clock = MONOTONIC, encoder: OpusEncoderConfig = VOICE_ENCODER) -> None:
        """`clock` paces the frames and stamps capture times (FakeClock in tests); `encoder` must use 20 ms frames.
        OpusUnavailableError when libopus is missing."""
        super().__init__()
        if encoder.frame_samples != FRAME_SAMPLES:
            raise ValueError(f"VoiceTrack sends {FRAME_SAMPLES}-sample frames; the encoder has {encoder.frame_ms} ms")
        self._feed = feed
        self._clock = clock
        self._encoder = OpusVoiceEncoder(encoder)
        self._start_us: int | None = None
        self._sent = 0
        self.packets_sent = 0
        """Packets handed to aiortc."""
        self.dtx_frames = 0
        """Frames of silence not sent (DTX)."""

    def capture_us_of(self, pts: int) -> int | None:
        """Capture time (µs on the track's clock) of the sample at `pts` (48 kHz), once the track started."""
        return None if self._start_us is None else self._start_us + pts * 1_000_000 // SAMPLE_RATE

    async def recv(self) -> Packet:
        """The next packet to send, at its frame's due time (frames of silence are skipped under DTX)."""
        while True:
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
            payload = self._encoder.encode(np.clip(np.asarray(pcm, np.float32), -1.0, 1.0))
            pts = self._sent
            self._sent += FRAME_SAMPLES
            if self._encoder.config.dtx and is_dtx_packet(payload):
                self.dtx_frames += 1
                continue
            packet = Packet(payload)
            packet.pts = pts
            packet.time_base = fractions.Fraction(1, SAMPLE_RATE)
            self.packets_sent += 1
            return packet


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
