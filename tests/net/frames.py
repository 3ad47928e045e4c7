"""Deterministic frames and layouts shared by the net tests (no RNG, so golden bytes never drift)."""

from __future__ import annotations

import numpy as np

from codecav.assets.package import LatentLayout, LatentSegment
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame

LAYOUT_256 = LatentLayout((LatentSegment("face", 192), LatentSegment("eyes", 32), LatentSegment("mouth", 32)))
"""A 256-d code in three segments, as AVA-256-style avatars have."""


def unit(v: list[float]) -> np.ndarray:
    """float32 unit vector along v."""
    a = np.array(v, np.float64)
    return (a / np.linalg.norm(a)).astype(np.float32)


def sample_frame(with_gaze: bool = True, sequence: int = 4242) -> LatentFrame:
    """A frame with a smooth code whose segments have different peak magnitudes."""
    i = np.arange(256, dtype=np.float64)
    code = np.sin(i * 0.37) * np.where(i < 192, 1.5, np.where(i < 224, 0.25, 3.0))
    pose = HeadPose(np.array([0.1, 1.6, -0.25], np.float32), unit([0.0, 0.2, 0.0, 0.98]))
    gaze = Gaze(unit([0.05, -0.02, 1.0]), unit([-0.04, -0.02, 1.0])) if with_gaze else None
    flags = FrameFlags.SPEAKING if with_gaze else FrameFlags.SPEAKING | FrameFlags.NO_GAZE
    return LatentFrame(sequence, 3_600_000_123, code.astype(np.float32), pose, gaze, flags)
