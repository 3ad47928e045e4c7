"""Frame clock with an injectable time source, so loops run on real, predicted (OpenXR) or fake time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TimeSource = Callable[[], int]
"""Returns the current time in nanoseconds on some monotonic clock."""

SleepFn = Callable[[int], None]
"""Sleeps for a number of nanoseconds (a fake clock advances instead)."""


def _sleep_ns(duration_ns: int) -> None:
    if duration_ns > 0:
        time.sleep(duration_ns / 1e9)


@dataclass(frozen=True)
class FrameTiming:
    """When a frame was scheduled and how late it ran."""

    index: int
    """Frame number from 0."""
    target_ns: int
    """Time the frame was due (its predicted display time under OpenXR)."""
    start_ns: int
    """Time the frame's work began."""
    late: bool
    """The frame started a whole period or more after it was due."""


class FrameClock:
    """Paces a loop at a fixed period; a late frame skips ahead instead of queueing catch-up frames."""

    def __init__(self, period_ns: int, now: TimeSource = time.monotonic_ns, sleep: SleepFn = _sleep_ns) -> None:
        """`period_ns`: frame period (e.g. 33_333_333 for 30 Hz); `now`/`sleep` are injectable for tests."""
        if period_ns <= 0:
            raise ValueError(f"frame period must be positive, got {period_ns} ns")
        self.period_ns = period_ns
        self._now = now
        self._sleep = sleep
        self._next_ns: int | None = None
        self._index = 0
        self.late_frames = 0
        """Frames that started at least one period after they were due."""

    def now_ns(self) -> int:
        """The time source's current time."""
        return self._now()

    def wait_frame(self) -> FrameTiming:
        """Sleep until the next frame is due, then return its timing."""
        now = self._now()
        if self._next_ns is None:
            self._next_ns = now
        target = self._next_ns
        if now < target:
            self._sleep(target - now)
            now = self._now()
        late = now - target >= self.period_ns
        if late:
            self.late_frames += 1
            # Drop the missed slots: schedule from now rather than running a burst of stale frames.
            skipped = (now - target) // self.period_ns
            target += skipped * self.period_ns
        timing = FrameTiming(self._index, target, now, late)
        self._index += 1
        self._next_ns = target + self.period_ns
        return timing

    def follow(self, predicted_display_ns: int, period_ns: int) -> None:
        """Follow an external schedule (OpenXR's predicted display time and period) for the next frame."""
        if period_ns > 0:
            self.period_ns = period_ns
        self._next_ns = predicted_display_ns


class FakeTime:
    """A manual clock for tests: `now()` returns the current value, `sleep(ns)` advances it."""

    def __init__(self, start_ns: int = 0) -> None:
        """Start at `start_ns`."""
        self.value = start_ns
        """The current fake time in nanoseconds."""

    def now(self) -> int:
        """Current fake time."""
        return self.value

    def sleep(self, duration_ns: int) -> None:
        """Advance by `duration_ns` (never backwards)."""
        self.value += max(0, duration_ns)

    def advance(self, duration_ns: int) -> None:
        """Advance by `duration_ns`, simulating work."""
        self.value += duration_ns
