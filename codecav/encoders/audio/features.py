"""Audio front end of the audio driver, in NumPy: resampling to 16 kHz and streaming log-mel features
(25 ms Hann windows every 10 ms, 40 mel bands 60 Hz - 7.6 kHz), identical offline and in streaming."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
"""Sample rate of every driver input."""
WINDOW = 400
"""Samples per analysis window (25 ms)."""
HOP = 160
"""Samples between windows (10 ms)."""
N_FFT = 512
"""FFT size (the window is zero-padded)."""
N_MELS = 40
"""Mel bands."""
FMIN, FMAX = 60.0, 7600.0
"""Mel filterbank range in Hz."""
LOG_FLOOR = 1e-6
"""Added before the log so silence stays finite."""


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale of frequencies in Hz."""
    return np.asarray(2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0))


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz of HTK mel values (the inverse of hz_to_mel)."""
    return np.asarray(700.0 * (10 ** (np.asarray(mel) / 2595.0) - 1.0))


def mel_band_edges_hz(n_mels: int = N_MELS) -> np.ndarray:
    """float64 [n_mels + 2]: the filterbank's band edges in Hz, evenly spaced in mel from FMIN to FMAX; band i
    rises from edge i, peaks at edge i + 1 (its centre) and falls to edge i + 2."""
    return mel_to_hz(np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), n_mels + 2))


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [n_mels, n_fft // 2 + 1] triangular HTK-mel filters (peak 1)."""
    edges = mel_band_edges_hz(n_mels)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lo) / (mid - lo)
    falling = (hi - freqs) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


@lru_cache(maxsize=1)
def analysis_window() -> np.ndarray:
    """float32 [WINDOW]: the Hann window each frame is weighted by before its FFT."""
    return np.hanning(WINDOW + 2)[1:-1].astype(np.float32)


def frames_to_log_mel(windows: np.ndarray) -> np.ndarray:
    """float32 [k, N_MELS] log-mel energies of windows [k, WINDOW] (samples in -1..1)."""
    spec = np.fft.rfft(windows * analysis_window(), n=N_FFT, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return np.log(power @ mel_filterbank().T + LOG_FLOOR).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """float32 [frames, N_MELS] for float mono 16 kHz audio; frame j covers samples [j*HOP, j*HOP+WINDOW)."""
    x = np.asarray(audio, dtype=np.float32)
    count = 0 if len(x) < WINDOW else 1 + (len(x) - WINDOW) // HOP
    if count == 0:
        return np.zeros((0, N_MELS), np.float32)
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(count)[:, None]
    return frames_to_log_mel(x[index])


class LogMelStream:
    """Streaming log_mel: push blocks of any size, get the frames completed so far (same values as log_mel
    over the concatenated audio)."""

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = np.zeros(0, np.float32)
        self.frames_out = 0
        """Frames returned so far."""

    def push(self, block: np.ndarray) -> np.ndarray:
        """float32 [k, N_MELS]: the frames that `block` (float mono 16 kHz) completes."""
        self._buffer = np.concatenate([self._buffer, np.asarray(block, np.float32).reshape(-1)])
        out = log_mel(self._buffer)
        if len(out):
            self._buffer = self._buffer[len(out) * HOP:]
            self.frames_out += len(out)
        return out


@dataclass
class Resampler:
    """Streaming band-limited resampler (windowed-sinc interpolation, Kaiser window) from `rate_in` to
    `rate_out`; the same samples come out whatever the block sizes."""

    rate_in: int
    """Input sample rate."""
    rate_out: int = SAMPLE_RATE
    """Output sample rate."""
    half_taps: int = 16
    """Filter half-length in input samples at the lower of the two rates."""

    def __post_init__(self) -> None:
        if self.rate_in <= 0 or self.rate_out <= 0:
            raise ValueError(f"sample rates must be positive, got {self.rate_in} -> {self.rate_out}")
        self._step = self.rate_in / self.rate_out
        self._cutoff = min(1.0, self.rate_out / self.rate_in) * 0.95  # in input Nyquist units
        self._half = int(np.ceil(self.half_taps / min(1.0, self._cutoff)))
        self._buffer = np.zeros(self._half, np.float32)  # leading zeros: output 0 is centred on input 0
        self._offset = -self._half  # input index of _buffer[0]
        self._next_out = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """float32 output samples that the input so far determines."""
        if self.rate_in == self.rate_out:
            return np.asarray(block, np.float32).reshape(-1).copy()
        self._buffer = np.concatenate([self._buffer, np.asarray(block, np.float32).reshape(-1)])
        last_in = self._offset + len(self._buffer) - 1
        count = int(np.floor((last_in - self._half) / self._step)) - self._next_out + 1
        if count <= 0:
            return np.zeros(0, np.float32)
        positions = (self._next_out + np.arange(count)) * self._step  # input positions of the outputs
        base = np.floor(positions).astype(np.int64)
        taps = np.arange(-self._half + 1, self._half + 1)
        index = base[:, None] + taps[None, :]
        dist = positions[:, None] - index
        ratio = np.clip(dist / self._half, -1.0, 1.0)
        kaiser = np.i0(8.0 * np.sqrt(1.0 - ratio**2)) / np.i0(8.0)
        kernel = self._cutoff * np.sinc(self._cutoff * dist) * kaiser
        out = np.sum(self._buffer[index - self._offset] * kernel, axis=1).astype(np.float32)
        self._next_out += count
        keep_from = int(np.floor(self._next_out * self._step)) - self._half + 1 - self._offset
        if keep_from > 0:
            self._buffer = self._buffer[keep_from:]
            self._offset += keep_from
        return out


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Whole-signal resampling with Resampler (the tail is flushed with zeros)."""
    r = Resampler(rate_in, rate_out)
    out = r.push(audio)
    tail = r.push(np.zeros(r._half + 2, np.float32))
    want = int(round(len(audio) * rate_out / rate_in))
    return np.concatenate([out, tail])[:want]
