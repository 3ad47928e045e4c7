"""Frame timing of the OpenXR loop: how long xrWaitFrame/xrBeginFrame/xrEndFrame took, and late frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameTimingStats:
    """Summary of the frames submitted so far (durations in milliseconds of CLOCK_MONOTONIC)."""

    frames: int
    """Frames taken through xrWaitFrame/xrBeginFrame/xrEndFrame."""
    rendered_frames: int
    """Frames the runtime asked to render (shouldRender) that carried a projection layer."""
    late_frames: int
    """Frames whose xrEndFrame returned after their predicted display time."""
    wait_ms_mean: float
    """Mean time blocked in xrWaitFrame."""
    wait_ms_max: float
    """Longest time blocked in xrWaitFrame."""
    begin_ms_mean: float
    """Mean xrBeginFrame time."""
    end_ms_mean: float
    """Mean xrEndFrame time."""
    end_ms_max: float
    """Longest xrEndFrame time."""
    frame_ms_p50: float
    """Median time from xrWaitFrame returning to xrEndFrame returning (the app's work plus submission)."""
    frame_ms_p99: float
    """99th percentile of that time."""
    predicted_period_ms: float
    """Last predictedDisplayPeriod reported by the runtime."""

    def summary(self) -> str:
        """One line for logs and docs."""
        return (f"{self.frames} frames ({self.rendered_frames} rendered, {self.late_frames} late); "
                f"wait {self.wait_ms_mean:.2f}/{self.wait_ms_max:.2f} ms mean/max, "
                f"begin {self.begin_ms_mean:.2f} ms, end {self.end_ms_mean:.2f}/{self.end_ms_max:.2f} ms, "
                f"frame p50 {self.frame_ms_p50:.2f} p99 {self.frame_ms_p99:.2f} ms, "
                f"period {self.predicted_period_ms:.1f} ms")


class FrameTimingRecorder:
    """Collects per-frame durations in preallocated arrays; a ring of the last `capacity` frames."""

    def __init__(self, capacity: int = 4096) -> None:
        """Keep the durations of the last `capacity` frames."""
        self._data = np.zeros((capacity, 4), np.int64)  # wait, begin, end, frame (ns)
        self._capacity = capacity
        self.frames = 0
        """Frames recorded."""
        self.rendered_frames = 0
        """Frames that carried a layer."""
        self.late_frames = 0
        """Frames ended after their predicted display time."""
        self.period_ns = 0
        """Last predicted display period."""

    def record(self, wait_ns: int, begin_ns: int, end_ns: int, frame_ns: int, period_ns: int, rendered: bool,
               late: bool) -> None:
        """Add one frame."""
        self._data[self.frames % self._capacity] = (wait_ns, begin_ns, end_ns, frame_ns)
        self.frames += 1
        self.rendered_frames += int(rendered)
        self.late_frames += int(late)
        self.period_ns = period_ns

    def stats(self) -> FrameTimingStats:
        """The summary so far (zeros before the first frame)."""
        rows = self._data[: min(self.frames, self._capacity)].astype(np.float64) / 1e6
        if len(rows) == 0:
            rows = np.zeros((1, 4))
        return FrameTimingStats(
            frames=self.frames,
            rendered_frames=self.rendered_frames,
            late_frames=self.late_frames,
            wait_ms_mean=float(rows[:, 0].mean()),
            wait_ms_max=float(rows[:, 0].max()),
            begin_ms_mean=float(rows[:, 1].mean()),
            end_ms_mean=float(rows[:, 2].mean()),
            end_ms_max=float(rows[:, 2].max()),
            frame_ms_p50=float(np.percentile(rows[:, 3], 50)),
            frame_ms_p99=float(np.percentile(rows[:, 3], 99)),
            predicted_period_ms=self.period_ns / 1e6,
        )
