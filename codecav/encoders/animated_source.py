"""AnimatedCodeSource: a LatentSource that loops smoothly through given codes at a fixed frame rate.

For profiling and plumbing when no sensor is attached: the codes are real points of the avatar's latent
space (e.g. random N(0, 0.5^2) draws or encoder outputs), blended with a cosine ease.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from codecav.clock import MONOTONIC, Clock
from codecav.encoders.paced_source import PacedSource
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


class AnimatedCodeSource(PacedSource):
    """Frames at `fps` whose code is the animation at the frame's capture time (paced by PacedSource)."""

    name: ClassVar[str] = "animated"

    def __init__(self, codes: list[np.ndarray], fps: float = 30.0, seconds_per_code: float = 1.0,
                 frames: int | None = None, *, clock: Clock = MONOTONIC) -> None:
        """Loop through `codes`, `seconds_per_code` each; `frames` ends the stream (None: endless)."""
        self._at = code_animation(codes, seconds_per_code)
        super().__init__(fps, frames=frames, clock=clock)

    def frame_at(self, sequence: int, capture_us: int) -> LatentFrame:
        """The animation `capture_us` after the source started."""
        code = self._at((capture_us * 1000 - self.start_ns) / 1e9)
        return LatentFrame(sequence, capture_us, code, flags=FrameFlags.NONE)
