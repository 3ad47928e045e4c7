"""Lip-sync of one remote participant: couple its face's and its voice's playout delays, and measure them.

Every delay here runs from capture to the eye or ear, in µs on the receiver's call clock: a face frame captured
at C is shown at C + face delay (the jitter buffer maps capture times with the clock-sync estimate); a voice
sample captured at C is heard at C + voice delay (its RTP time mapped to capture time by the fastest-transit
anchor, see `codecav.net.voice_receiver`). The offset of the two at one instant is

    av_offset = face capture time shown - voice capture time heard = voice delay - face delay

Positive: the face is ahead of the voice (it shows a later moment than the one heard: sound late, as from a
speaker a few metres away); negative: the voice is ahead of the face. ITU-R BT.1359 finds sound ahead of
picture noticeable from about 45 ms and sound behind picture from about 125 ms, so codecav keeps the face
trailing its voice by at most 30 ms and leading it by at most 60 ms, -30 ms <= av_offset <= +60 ms, and within
that window neither waits longer than it must:

    face delay   = max(face needed,  voice delay - 60 ms + 10) -> JitterBuffer.floor_us (10 ms inside the window)
    voice target = max(voice needed, face delay  - 30 ms)     -> VoicePlayout.floor_ms

Thread-safe: the face side reports from the render thread, the voice side from the voice output thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LipSyncConfig:
    """The sync window and how the offset is sampled."""

    face_leads_max_ms: float = 60.0
    """Most the face may show a later capture time than the voice heard (sound behind picture)."""
    face_trails_max_ms: float = 30.0
    """Most the face may show an earlier capture time than the voice heard (sound ahead of picture)."""
    face_aim_inside_ms: float = 10.0
    """A face held back by its voice aims this far inside the window (voice delay - 50 ms): the voice's delay is
    an estimate (its packets' capture times come from the fastest arrival seen so far), up to ~10 ms short in the
    first second of a call, and the two delays move a few ms between updates; neither should carry the face past
    +60."""
    stale_ms: float = 250.0
    """A side that has not reported for this long (e.g. the face is not being rendered) no longer holds the other."""
    offset_every_ms: float = 100.0
    """One av_offset measurement per this much voice heard."""
    offsets_kept: int = 3000
    """Measurements kept (5 minutes at one per 100 ms)."""

    def __post_init__(self) -> None:
        """Reject a window that is not a window."""
        if self.face_leads_max_ms < 0 or self.face_trails_max_ms < 0:
            raise ValueError(f"the sync window must not be negative; got leads {self.face_leads_max_ms} ms, "
                             f"trails {self.face_trails_max_ms} ms")
        if self.offsets_kept < 1:
            raise ValueError(f"offsets_kept must be at least 1; got {self.offsets_kept}")


class LipSync:
    """The latest face and voice delays of one remote, the floors each puts on the other, measured offsets."""

    def __init__(self, config: LipSyncConfig | None = None) -> None:
        """A coupling with nothing reported yet (no floors)."""
        self.config = config or LipSyncConfig()
        """The window."""
        self._lock = threading.Lock()
        self._face: tuple[float, float] | None = None
        """(render µs, face delay µs) of the last face shown."""
        self._voice: tuple[float, float] | None = None
        """(play µs, voice delay µs) of the last voice heard, or of the delay it waits for while buffering."""
        self._next_offset_us = -float("inf")
        self.offsets_ms: deque[float] = deque(maxlen=self.config.offsets_kept)
        """Measured av_offset (ms, + = face ahead of voice), one per `offset_every_ms` of voice heard."""

    def face_shown(self, render_us: float, delay_us: float) -> None:
        """The face was shown at `render_us` with capture-to-eye delay `delay_us`."""
        with self._lock:
            self._face = (render_us, delay_us)

    def voice_heard(self, play_us: float, delay_us: float) -> None:
        """Voice is heard from `play_us` with capture-to-ear delay `delay_us`; measures the offset to the face."""
        cfg = self.config
        with self._lock:
            self._voice = (play_us, delay_us)
            face = self._face
            if face is None or abs(play_us - face[0]) > cfg.stale_ms * 1000 or play_us < self._next_offset_us:
                return
            self._next_offset_us = play_us + cfg.offset_every_ms * 1000
            # The face shown at play_us has capture time play_us - face delay: the offset is the delays' difference.
            self.offsets_ms.append(round((delay_us - face[1]) / 1000, 2))

    def voice_waiting(self, now_us: float, needed_delay_us: float) -> None:
        """The voice is buffering towards `needed_delay_us` (its own need): the face already waits for that."""
        with self._lock:
            self._voice = (now_us, needed_delay_us)

    def face_floor_us(self, now_us: float) -> float:
        """The least face delay at `now_us`: voice delay - face_leads_max (0 when the voice is not playing)."""
        cfg = self.config
        with self._lock:
            voice = self._voice
        if voice is None or abs(now_us - voice[0]) > cfg.stale_ms * 1000:
            return 0.0
        return max(0.0, voice[1] - (cfg.face_leads_max_ms - cfg.face_aim_inside_ms) * 1000)

    def voice_floor_us(self, now_us: float) -> float:
        """The least voice delay at `now_us`: face delay - face_trails_max (0 when the face is not shown)."""
        cfg = self.config
        with self._lock:
            face = self._face
        if face is None or abs(now_us - face[0]) > cfg.stale_ms * 1000:
            return 0.0
        return max(0.0, face[1] - cfg.face_trails_max_ms * 1000)

    def offsets(self) -> tuple[float, ...]:
        """The measured offsets kept, oldest first (ms, + = face ahead of voice)."""
        with self._lock:
            return tuple(self.offsets_ms)
