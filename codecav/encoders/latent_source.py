"""Fused expression sources -> the avatar's LatentFrames at a fixed rate (the sender side of a call).

Offline (`realtime=False`, files and clips): frame k stands for capture time start + k / fps, where start is the
first sample's time; each source is read ahead until it passes that time, and the stream ends when every source
has. Live (`realtime=True`): frames are paced by the clock; each source is drained without blocking and its
newest sample is used, if it is not older than `max_age_s`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from codecav.clock import MONOTONIC, Clock
from codecav.encoders.base import ExpressionSample, ExpressionSource, LatentSource
from codecav.encoders.expression import ExpressionEncoder
from codecav.encoders.fusion import FusionPolicy, fuse
from codecav.latent import FrameFlags, HeadPose, LatentFrame


@dataclass(frozen=True)
class LatentSourceConfig:
    """Rate and freshness of an ExpressionLatentSource."""

    fps: float = 30.0
    """LatentFrames per second."""
    realtime: bool = False
    """Pace frames by the clock and never block on a source (live devices); False replays files exactly."""
    max_age_s: float = 0.25
    """Live mode: a source's newest sample older than this is ignored (the source stalled)."""
    tracking_lost_confidence: float = 0.1
    """TRACKING_LOST is set when the fused mean confidence falls below this."""


class _Track:
    """One source's read-ahead state: the newest sample at or before the current frame time, and one after."""

    def __init__(self, source: ExpressionSource) -> None:
        self.source = source
        self.latest: ExpressionSample | None = None
        self.pending: ExpressionSample | None = None
        self.ended = False

    def advance_to(self, time_us: int, block: bool) -> None:
        while True:
            if self.pending is not None:
                if self.pending.capture_time_us > time_us:
                    return
                self.latest, self.pending = self.pending, None
            if self.ended:
                return
            sample = self.source.read(timeout=None if block else 0.0)
            if sample is None:
                self.ended = block
                return
            self.pending = sample


class ExpressionLatentSource(LatentSource):
    """A LatentSource from named ExpressionSources: fuse (codecav.encoders.fusion) then the avatar's
    expression encoder, at a fixed rate. Source names are the kinds fusion trusts ('hmc', 'audio', 'gaze', ...)."""

    name = "expression"

    def __init__(self, sources: Mapping[str, ExpressionSource], encoder: ExpressionEncoder,
                 config: LatentSourceConfig | None = None, policy: FusionPolicy | None = None,
                 *, clock: Clock = MONOTONIC) -> None:
        """`clock` paces live frames (injectable for tests of live pacing)."""
        if not sources:
            raise ValueError("ExpressionLatentSource needs at least one source")
        self.config = config or LatentSourceConfig()
        """Rate and freshness."""
        self.policy = policy or FusionPolicy()
        """Fusion policy."""
        self.encoder = encoder
        """The avatar's expression encoder."""
        self._tracks = {name: _Track(src) for name, src in sources.items()}
        self._clock = clock
        self._sequence = 0
        self._start_us: int | None = None
        self._closed = False

    def _frame_time(self) -> int:
        assert self._start_us is not None
        return self._start_us + int(round(self._sequence * 1e6 / self.config.fps))

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The next LatentFrame; None when closed or (offline) when every source has ended."""
        if self._closed:
            return None
        if self.config.realtime:
            if self._start_us is None:
                self._start_us = self._clock.now_us()
            wait_us = self._frame_time() - self._clock.now_us()
            if timeout is not None and wait_us > timeout * 1e6:
                return None
            if wait_us > 0:
                self._clock.sleep_ns(wait_us * 1000)
            now = self._frame_time()
            for track in self._tracks.values():
                track.advance_to(now, block=False)  # drain what has arrived, up to the frame time
            oldest = now - int(self.config.max_age_s * 1e6)
            live = {n: t.latest for n, t in self._tracks.items()
                    if t.latest is not None and t.latest.capture_time_us >= oldest}
        else:
            if self._start_us is None:
                for track in self._tracks.values():
                    track.advance_to(-(2**62), block=True)  # fetch each source's first sample
                firsts = [t.pending.capture_time_us for t in self._tracks.values() if t.pending is not None]
                if not firsts:
                    return None
                self._start_us = min(firsts)
            now = self._frame_time()
            for track in self._tracks.values():
                track.advance_to(now, block=True)
            if all(t.ended and t.pending is None for t in self._tracks.values()):
                last = max((t.latest.capture_time_us for t in self._tracks.values() if t.latest), default=None)
                if last is None or now > last:
                    return None  # no frames past the last sample of the longest source
            live = {n: t.latest for n, t in self._tracks.items() if t.latest is not None}
        frame = self._frame(now, live)
        self._sequence += 1
        return frame

    def _frame(self, now_us: int, samples: Mapping[str, ExpressionSample | None]) -> LatentFrame:
        present = {n: s for n, s in samples.items() if s is not None}
        fused = fuse(present, self.policy, capture_time_us=now_us)
        flags = FrameFlags.NONE
        if float(np.mean(fused.confidence)) < self.config.tracking_lost_confidence:
            flags |= FrameFlags.TRACKING_LOST
        if fused.gaze is None:
            flags |= FrameFlags.NO_GAZE
        audio = present.get("audio")
        if audio is not None and float(audio.confidence.max()) >= 0.5:
            flags |= FrameFlags.SPEAKING  # audio sources raise their confidence only on voice activity
        return LatentFrame(sequence=self._sequence, capture_time_us=now_us, code=self.encoder.encode(fused.weights),
                           head_pose=fused.head_pose or HeadPose.identity(), gaze=fused.gaze, flags=flags)

    def close(self) -> None:
        """Close every source."""
        self._closed = True
        for track in self._tracks.values():
            track.source.close()
