"""AnimatedCodeSource: a LatentSource that loops smoothly through given codes at a fixed frame rate.

For profiling and plumbing when no sensor is attached: the codes are real points of the avatar's latent
space (e.g. random N(0, 0.5^2) draws or encoder outputs), blended with a cosine ease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from codecav.encoders.base import LatentSource
from codecav.latent import FrameFlags, LatentFrame


def code_animation(codes: list[np.ndarray], seconds_per_code: float = 1.5) -> Callable[[float], np.ndarray]:
    """A smooth loop through `codes` (cosine blend between neighbours), as a function of time in seconds."""
    if not codes:
        raise ValueError("code_animation needs at least one code")

    def at(t: float) -> np.ndarray:
        phase = (t / seconds_per_code) % len(codes)
        i = int(phase)
        w = 0.5 - 0.5 * np.cos(np.pi * (phase - i))
        return ((1.0 - w) * codes[i] + w * codes[(i + 1) % len(codes)]).astype(np.float32)

    return at


class AnimatedCodeSource(LatentSource):
    """Frames at `fps`, each stamped with its capture time; `read` sleeps until the next one is due."""

    name: ClassVar[str] = "animated"

    def __init__(self, codes: list[np.ndarray], fps: float = 30.0, seconds_per_code: float = 1.0,
                 frames: int | None = None) -> None:
        self._at = code_animation(codes, seconds_per_code)
        self._period_ns = int(1e9 / fps)
        self._limit = frames
        self._sequence = 0
        self._start_ns = time.monotonic_ns()
        self._closed = threading.Event()

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The next frame at its due time; None when closed, after `frames`, or if due after `timeout`."""
        if self._closed.is_set() or (self._limit is not None and self._sequence >= self._limit):
            return None
        due = self._start_ns + self._sequence * self._period_ns
        wait_s = (due - time.monotonic_ns()) / 1e9
        if timeout is not None and wait_s > timeout:
            self._closed.wait(timeout)
            return None
        if wait_s > 0 and self._closed.wait(wait_s):
            return None
        capture_ns = time.monotonic_ns()
        code = self._at((capture_ns - self._start_ns) / 1e9)
        frame = LatentFrame(self._sequence, capture_ns // 1000, code, flags=FrameFlags.NONE)
        self._sequence += 1
        return frame

    def close(self) -> None:
        """Stop: pending and later reads return None."""
        self._closed.set()
