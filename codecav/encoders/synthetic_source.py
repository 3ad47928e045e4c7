"""`--source synthetic`: a LatentSource of smoothly animated codes, head sway and gaze, paced in real time.

For calls and benchmarks before (or without) a camera or headset; the codes loop through a few random codes
with a cosine blend (codecav.encoders.animated_source.code_animation), scaled like render_command.random_codes.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from codecav.assets.package import LatentLayout
from codecav.clock import MONOTONIC, Clock
from codecav.encoders.animated_source import code_animation
from codecav.encoders.paced_source import PacedSource
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame


class SyntheticLatentSource(PacedSource):
    """Frames at `fps` (paced by PacedSource on `clock`); `frames` ends the stream (None: endless)."""

    name: ClassVar[str] = "synthetic"

    def __init__(self, layout: LatentLayout, *, fps: float = 30.0, seed: int = 0, frames: int | None = None,
                 clock: Clock = MONOTONIC) -> None:
        """Codes for `layout` animated through four random codes drawn from `seed`."""
        if not 1.0 <= fps <= 240.0:
            raise ValueError(f"synthetic source fps {fps} is out of range; use 1..240")
        rng = np.random.default_rng(seed)
        self.layout = layout
        """The avatar's latent layout (the code size)."""
        self._anim = code_animation([(rng.standard_normal(layout.dim) * 0.5).astype(np.float32) for _ in range(4)])
        super().__init__(fps, frames=frames, clock=clock)

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
