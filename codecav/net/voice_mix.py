"""The output side of a call's voice: every remote voice pulled 10 ms at a time on one playout clock and mixed.

An output (PortAudio's callback, the demo's virtual output, a recorder) asks for `n` samples to be heard from
`play_us` on the call's clock. Each remote voice is a stateful playout buffer, so the mix is made once, chunk by
chunk, at play times 10 ms apart: the playout clock. It follows the output's play times but not their jitter
(a thread woken 2 ms late must not make the voice skip 2 ms): a request within `resync_ms` of where the last
one ended continues the stream seamlessly and nudges the clock by a fraction of the difference, so the clock
keeps the output's rate; a request far ahead (the output stalled) restarts the clock there. A request that ends
before the stream's current position (a second reader, e.g. a recorder behind a speaker) is served from the
last `history_ms` of the mix, so two outputs can read the same voice.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

import numpy as np

from codecav.net.voice_playout import CHUNK_SAMPLES, SAMPLE_RATE

ChunkSource = Callable[[int], np.ndarray | None]
"""(play time ns on the call clock) -> the 480 samples (10 ms) of one voice heard from then, or None."""

_US_PER_SAMPLE = 1e6 / SAMPLE_RATE
_CHUNK_US = CHUNK_SAMPLES * _US_PER_SAMPLE


class VoiceMix:
    """Mixed remote voices for any number of outputs (thread-safe): `samples(play_us, n)`."""

    def __init__(self, sources: Callable[[], Iterable[ChunkSource]], *, resync_ms: float = 30.0,
                 follow: float = 0.125, history_ms: float = 2000.0) -> None:
        """`sources()` lists the voices to mix at each chunk; `follow` is the fraction of an output's timing
        difference taken per request (0 < follow <= 1)."""
        if not 0.0 < follow <= 1.0:
            raise ValueError(f"follow must be in (0, 1]; got {follow}")
        self._sources = sources
        self._resync_us = resync_ms * 1000
        self._follow = follow
        self._lock = threading.Lock()
        self._next_us: float | None = None
        """Play time of the next sample the driving output takes."""
        self._pending = np.zeros(0, np.float32)
        """Mixed samples not yet handed out (the rest of the last chunk), starting at _next_us."""
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=max(1, round(history_ms * 1000 / _CHUNK_US)))
        self.chunks_mixed = 0
        """10 ms chunks mixed."""
        self.restarts = 0
        """Times the playout clock jumped to an output's play time (a stall, or a new output)."""
        self.history_reads = 0
        """Requests served from the history (a reader behind the stream)."""

    def samples(self, play_us: float, n: int) -> np.ndarray:
        """`n` float32 samples in [-1, 1] to be heard from `play_us` (µs, call clock); any thread."""
        if n <= 0:
            return np.zeros(0, np.float32)
        with self._lock:
            end_us = play_us + n * _US_PER_SAMPLE
            if self._next_us is not None and end_us <= self._next_us + _US_PER_SAMPLE \
                    and self._next_us - play_us > self._resync_us:
                self.history_reads += 1
                return self._from_history(play_us, n)
            if self._next_us is None or abs(play_us - self._next_us) > self._resync_us:
                self.restarts += self._next_us is not None
                self._next_us = play_us
                self._pending = np.zeros(0, np.float32)
            else:
                self._next_us += (play_us - self._next_us) * self._follow
            out = self._pending[:n]
            self._pending = self._pending[n:]
            parts = [out]
            have = out.size
            while have < n:
                chunk_us = self._next_us + have * _US_PER_SAMPLE
                mixed = self._mix(chunk_us)
                take = min(n - have, CHUNK_SAMPLES)
                parts.append(mixed[:take])
                self._pending = mixed[take:]
                have += take
            self._next_us += n * _US_PER_SAMPLE
            return np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32)

    def _mix(self, chunk_us: float) -> np.ndarray:
        mix = np.zeros(CHUNK_SAMPLES, np.float32)
        for source in self._sources():
            pcm = source(round(chunk_us * 1000))
            if pcm is not None:
                mix += pcm
        self.chunks_mixed += 1
        self._history.append((chunk_us, mix))
        return mix

    def _from_history(self, play_us: float, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        for chunk_us, pcm in self._history:
            offset = round((chunk_us - play_us) / _US_PER_SAMPLE)
            lo, hi = max(offset, 0), min(offset + CHUNK_SAMPLES, n)
            if hi > lo:
                out[lo:hi] = pcm[lo - offset: hi - offset]
        return np.clip(out, -1.0, 1.0)
