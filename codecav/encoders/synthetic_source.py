"""`--source synthetic`: a LatentSource of smoothly animated codes, head sway and gaze, paced in real time.

For calls and benchmarks before (or without) a camera or headset; the codes loop through a few random codes
with a cosine blend (codecav.runtime.live_view.code_animation), scaled like render_command.random_codes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from codecav.assets.package import LatentLayout
from codecav.encoders.animated_source import code_animation
from codecav.encoders.base import LatentSource
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame


class SyntheticLatentSource(LatentSource):
    """Frames at `fps`, stamped with the monotonic clock; `frames` ends the stream (None: endless)."""

    name: ClassVar[str] = "synthetic"

    def __init__(self, layout: LatentLayout, *, fps: float = 30.0, seed: int = 0, frames: int | None = None,
                 clock: Callable[[], int] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if not 1.0 <= fps <= 240.0:
            raise ValueError(f"synthetic source fps {fps} is out of range; use 1..240")
        rng = np.random.default_rng(seed)
        self.layout = layout
        self.fps = fps
        self._anim = code_animation([(rng.standard_normal(layout.dim) * 0.5).astype(np.float32) for _ in range(4)])
        self._frames = frames
        self._clock = clock or (lambda: time.monotonic_ns() // 1000)
        self._sleep = sleep
        self._start_us = self._clock()
        self._sequence = 0
        self._closed = False

    def frame_at(self, sequence: int, capture_us: int) -> LatentFrame:
        """The frame with this sequence, as captured at `capture_us` (pure: same inputs, same frame)."""
        t = sequence / self.fps
        yaw = 0.25 * math.sin(2 * math.pi * 0.2 * t)
        pitch = 0.1 * math.sin(2 * math.pi * 0.13 * t)
        half_yaw, half_pitch = yaw / 2, pitch / 2
        # q = q_yaw(y) * q_pitch(x)
        q = np.array([math.cos(half_yaw) * math.sin(half_pitch), math.sin(half_yaw) * math.cos(half_pitch),
                      -math.sin(half_yaw) * math.sin(half_pitch), math.cos(half_yaw) * math.cos(half_pitch)])
        position = np.array([0.02 * math.sin(2 * math.pi * 0.3 * t), 0.0, 0.0], np.float32)
        look = np.array([0.2 * math.sin(2 * math.pi * 0.5 * t), 0.05, 1.0])
        look /= np.linalg.norm(look)
        gaze = Gaze(look.astype(np.float32), look.astype(np.float32))
        return LatentFrame(sequence, capture_us, self._anim(t), HeadPose(position, q.astype(np.float32)), gaze,
                           FrameFlags.NONE)

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The next frame at its due time (sleeps until then); None after `frames` frames or close()."""
        if self._closed or (self._frames is not None and self._sequence >= self._frames):
            return None
        due_us = self._start_us + int(self._sequence * 1e6 / self.fps)
        wait_s = (due_us - self._clock()) / 1e6
        if timeout is not None and wait_s > timeout:
            self._sleep(timeout)
            return None
        if wait_s > 0:
            self._sleep(wait_s)
        frame = self.frame_at(self._sequence, self._clock())
        self._sequence += 1
        return frame

    def close(self) -> None:
        """End the stream."""
        self._closed = True
