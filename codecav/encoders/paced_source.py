"""PacedLatentSource: plays an offline (file-replaying) LatentSource in real time, as a live sensor would."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import ClassVar

from codecav.assets.package import AvatarPackage
from codecav.encoders.base import ExpressionSource, LatentSource
from codecav.latent import LatentFrame


class PacedLatentSource(LatentSource):
    """Drives an inner (offline, file-replaying) LatentSource in real time from a shared clip origin: frame k
    is due at start + k / fps; it is read (and so encoded) when due, or at once when encoding fell behind, and
    stamped with the time its read began (the sensor frame's capture). The inner source is reopened when it
    ends, so the clip loops."""

    name: ClassVar[str] = "paced"

    def __init__(self, open_inner: Callable[[], LatentSource], fps: float, start_ns: int) -> None:
        self._open = open_inner
        self._inner: LatentSource = open_inner()
        self._period_ns = int(1e9 / fps)
        self._start_ns = start_ns
        self._sequence = max(0, (time.monotonic_ns() - start_ns) // self._period_ns)
        self._clip_frame = 0
        self._closed = False
        self._skip_to(self._sequence)

    def _skip_to(self, index: int) -> None:
        """Advance the clip to frame `index` (mod its length) so a late joiner starts mid-clip, as a live feed."""
        for _ in range(index):
            if self._inner.read() is None:
                self._inner.close()
                self._inner = self._open()

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The next frame at its due time (None when closed or if not due within `timeout`)."""
        if self._closed:
            return None
        due = self._start_ns + self._sequence * self._period_ns
        wait = (due - time.monotonic_ns()) / 1e9
        if timeout is not None and wait > timeout:
            time.sleep(timeout)
            return None
        if wait > 0:
            time.sleep(wait)
        # The sensor frame is taken now (on time, or late when encoding fell behind): that is its capture time.
        capture_ns = time.monotonic_ns()
        frame = self._inner.read()
        if frame is None:
            self._inner.close()
            self._inner = self._open()
            frame = self._inner.read()
            if frame is None:
                return None
        out = LatentFrame(int(self._sequence), capture_ns // 1000, frame.code, frame.head_pose, frame.gaze, frame.flags)
        self._sequence += 1
        return out

    def close(self) -> None:
        """Close the inner source."""
        self._closed = True
        self._inner.close()


LIVE_SOURCES = ("mic", "webcam", "hmc-studio")
"""Source names that deliver in real time by themselves (devices, a live renderer)."""


def open_latent_source(specs: list[str], package: AvatarPackage, fps: float, threads: int = 1) -> LatentSource:
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
        return ExpressionLatentSource(open_sources(), encoder, LatentSourceConfig(fps=fps, realtime=True))
    return PacedLatentSource(
        lambda: ExpressionLatentSource(open_sources(), encoder, LatentSourceConfig(fps=fps, realtime=False)),
        fps, time.monotonic_ns())
