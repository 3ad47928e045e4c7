"""The one clock: every loop, source and measurement in codecav reads time through a `Clock`, so tests can
drive it with `FakeClock` and the OpenXR loop can follow the runtime's predicted display time.

`MonotonicClock` is the only code that reads `time.monotonic_ns()`. Elsewhere time comes from outside:
OpenXR's XrTime (converted to CLOCK_MONOTONIC by `codecav.xr.openxr.xr_time`), RTP/audio timestamps that
aiortc and PortAudio hand us, and wall-clock seconds (`time.time()`) where a protocol needs them (join-token
expiry, file dates). Nothing else reads a clock directly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


class Clock(ABC):
    """A monotonic time source in nanoseconds, with sleeps that a fake clock turns into jumps."""

    @abstractmethod
    def now_ns(self) -> int:
        """The current time in nanoseconds (CLOCK_MONOTONIC for the real clock)."""

    @abstractmethod
    def sleep_ns(self, duration_ns: int) -> None:
        """Wait `duration_ns` (nothing for zero or negative)."""

    @abstractmethod
    def wait_ns(self, event: threading.Event, duration_ns: int) -> bool:
        """Wait up to `duration_ns` for `event`; True if it is set (a stop request), False on time-out."""

    async def sleep_ns_async(self, duration_ns: int) -> None:
        """Wait `duration_ns` without blocking the event loop (the loop's timer for the real clock)."""
        await asyncio.sleep(max(0, duration_ns) / 1e9)

    def now_us(self) -> int:
        """The current time in microseconds (the unit of LatentFrame.capture_us)."""
        return self.now_ns() // 1000

    def now_s(self) -> float:
        """The current time in seconds, for durations and rates."""
        return self.now_ns() / 1e9


class MonotonicClock(Clock):
    """The real clock: CLOCK_MONOTONIC and real sleeps."""

    def now_ns(self) -> int:
        """time.monotonic_ns()."""
        return time.monotonic_ns()

    def sleep_ns(self, duration_ns: int) -> None:
        """time.sleep."""
        if duration_ns > 0:
            time.sleep(duration_ns / 1e9)

    def wait_ns(self, event: threading.Event, duration_ns: int) -> bool:
        """event.wait with a time-out."""
        return event.wait(max(0, duration_ns) / 1e9)


MONOTONIC = MonotonicClock()
"""The process's real clock; the default wherever a clock can be injected."""


class FakeClock(Clock):
    """A manual clock for tests: sleeping and waiting advance it instantly."""

    def __init__(self, start_ns: int = 0) -> None:
        """Start at `start_ns`."""
        self.value = start_ns
        """The current fake time in nanoseconds."""

    def now_ns(self) -> int:
        """The current fake time."""
        return self.value

    def sleep_ns(self, duration_ns: int) -> None:
        """Advance by `duration_ns` (never backwards)."""
        self.value += max(0, duration_ns)

    def wait_ns(self, event: threading.Event, duration_ns: int) -> bool:
        """Return at once if `event` is set, else advance by `duration_ns` and report a time-out."""
        if event.is_set():
            return True
        self.sleep_ns(duration_ns)
        return event.is_set()

    async def sleep_ns_async(self, duration_ns: int) -> None:
        """Jump ahead at once and give the event loop one turn, so paced async code runs instantly in tests."""
        self.sleep_ns(duration_ns)
        await asyncio.sleep(0)

    def advance(self, duration_ns: int) -> None:
        """Advance by `duration_ns`, simulating work."""
        self.value += duration_ns


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

    def __init__(self, period_ns: int, clock: Clock = MONOTONIC) -> None:
        """`period_ns`: frame period (e.g. 33_333_333 for 30 Hz); `clock` is injectable for tests."""
        if period_ns <= 0:
            raise ValueError(f"frame period must be positive, got {period_ns} ns")
        self.period_ns = period_ns
        self.clock = clock
        """The time source frames are paced on."""
        self._next_ns: int | None = None
        self._index = 0
        self.late_frames = 0
        """Frames that started at least one period after they were due."""

    def now_ns(self) -> int:
        """The time source's current time."""
        return self.clock.now_ns()

    def wait_frame(self) -> FrameTiming:
        """Sleep until the next frame is due, then return its timing."""
        now = self.clock.now_ns()
        if self._next_ns is None:
            self._next_ns = now
        target = self._next_ns
        if now < target:
            self.clock.sleep_ns(target - now)
            now = self.clock.now_ns()
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
