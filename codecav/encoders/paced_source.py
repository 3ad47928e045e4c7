"""The paced-source family: LatentSources that deliver frame k at start + k * period on an injected Clock, as
a live sensor would. `PacedSource` owns the pacing; subclasses only say what frame k is:
`AnimatedCodeSource` (animated_source), `SyntheticLatentSource` (synthetic_source) and `PacedLatentSource`
(here: an offline, file-replaying LatentSource played in real time)."""

from __future__ import annotations

import os
import threading
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

from codecav.assets.package import AvatarPackage
from codecav.clock import MONOTONIC, Clock
from codecav.encoders.base import ExpressionSource, LatentSource
from codecav.latent import LatentFrame


class PacedSource(LatentSource):
    """Frame k is due at `start_ns + k * period_ns` on `clock`; `read` waits for it (close-aware) and stamps it
    with the clock's time when the wait ends. A source started in the past (a late joiner) begins with the
    frame due now; a late `read` delivers at once rather than skipping frames."""

    def __init__(self, fps: float, *, frames: int | None = None, start_ns: int | None = None,
                 clock: Clock = MONOTONIC) -> None:
        """`fps`: frame rate; `frames`: sequence number that ends the stream (None: endless); `start_ns`: when
        frame 0 is due on `clock` (None: now)."""
        if fps <= 0:
            raise ValueError(f"paced source fps must be positive, got {fps}")
        self.fps = fps
        """Frames per second."""
        self.period_ns = int(1e9 / fps)
        """Time between due times."""
        self.clock = clock
        """The time source frames are paced on and stamped with."""
        self.start_ns = clock.now_ns() if start_ns is None else start_ns
        """When frame 0 is due."""
        self.frames = frames
        """Sequence number at which the stream ends (None: endless)."""
        self._sequence = max(0, (clock.now_ns() - self.start_ns) // self.period_ns)
        self._closed = threading.Event()

    @property
    def sequence(self) -> int:
        """Sequence number of the next frame."""
        return self._sequence

    @abstractmethod
    def frame_at(self, sequence: int, capture_us: int) -> LatentFrame | None:
        """Frame `sequence`, captured at `capture_us` on the clock; None ends the stream. `read` asks for each
        sequence once, in order."""

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The next frame at its due time; None when closed, past `frames`, or not due within `timeout` seconds
        (after waiting that long)."""
        if self._closed.is_set() or (self.frames is not None and self._sequence >= self.frames):
            return None
        wait_ns = self.start_ns + self._sequence * self.period_ns - self.clock.now_ns()
        if timeout is not None and wait_ns > timeout * 1e9:
            self.clock.wait_ns(self._closed, int(timeout * 1e9))
            return None
        if wait_ns > 0 and self.clock.wait_ns(self._closed, wait_ns):
            return None
        # The frame is taken now (on time, or late when the reader fell behind): that is its capture time.
        frame = self.frame_at(self._sequence, self.clock.now_us())
        if frame is not None:
            self._sequence += 1
        return frame

    def close(self) -> None:
        """End the stream: a pending read returns None at once, and so do later ones."""
        self._closed.set()


class PacedLatentSource(PacedSource):
    """Replays an inner (offline, file-replaying) LatentSource in real time from a shared clip origin
    `start_ns`: frame k is the clip's frame k (mod its length, the inner source is reopened when it ends, so
    the clip loops), read when due, or at once when encoding fell behind. A late joiner starts mid-clip."""

    name: ClassVar[str] = "paced"

    def __init__(self, open_inner: Callable[[], LatentSource], fps: float, start_ns: int, *,
                 clock: Clock = MONOTONIC) -> None:
        """`open_inner` opens the clip's source from its start; `start_ns`: when clip frame 0 was due."""
        super().__init__(fps, start_ns=start_ns, clock=clock)
        self._open = open_inner
        self._inner: LatentSource = open_inner()
        for _ in range(self.sequence):  # skip to the frame due now (mod the clip's length), as a live feed
            self._next_clip_frame()

    def _next_clip_frame(self) -> LatentFrame | None:
        """The inner source's next frame, reopening it at its end so the clip loops; None if it is empty."""
        frame = self._inner.read()
        if frame is None:
            self._inner.close()
            self._inner = self._open()
            frame = self._inner.read()
        return frame

    def frame_at(self, sequence: int, capture_us: int) -> LatentFrame | None:
        """The clip's next frame, renumbered `sequence` and stamped `capture_us`."""
        frame = self._next_clip_frame()
        if frame is None:
            return None
        return LatentFrame(sequence, capture_us, frame.code, frame.head_pose, frame.gaze, frame.flags)

    def close(self) -> None:
        """End the stream and close the inner source."""
        super().close()
        self._inner.close()


LIVE_SOURCES = ("mic", "webcam", "hmc-studio")
"""Source names that deliver in real time by themselves (devices, a live renderer)."""


def open_latent_source(specs: list[str], package: AvatarPackage, fps: float, threads: int = 1, *,
                       clock: Clock = MONOTONIC) -> LatentSource:
    """LatentFrames of `package` driven by the registered sources `specs` (fused), for a call: live sources run
    on the clock; file sources (wav, clip, expressions) are replayed in real time from now, looping."""
    from codecav.encoders.expression import ExpressionEncoder
    from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig
    from codecav.encoders.sources import open_source

    encoder = ExpressionEncoder.from_package(package, threads=threads)

    def open_sources() -> dict[str, ExpressionSource]:
        sources: dict[str, ExpressionSource] = {}
        for spec in specs:
            kind, source = open_source(spec)
            sources[kind if kind not in sources else f"{kind}{len(sources)}"] = source
        return sources

    def is_live(spec: str) -> bool:
        name, _, arg = spec.partition(":")
        return name in LIVE_SOURCES and not (name == "webcam" and os.path.isfile(arg))  # a video file replays

    if any(is_live(spec) for spec in specs):
        return ExpressionLatentSource(open_sources(), encoder, LatentSourceConfig(fps=fps, realtime=True),
                                      clock=clock)
    return PacedLatentSource(
        lambda: ExpressionLatentSource(open_sources(), encoder, LatentSourceConfig(fps=fps, realtime=False)),
        fps, clock.now_ns(), clock=clock)
