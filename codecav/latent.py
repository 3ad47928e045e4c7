"""LatentFrame: the per-frame message from the encoders to the network and the receiving decoders."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag

import numpy as np


class FrameFlags(IntFlag):
    """Per-frame flags carried on the wire."""

    NONE = 0
    TRACKING_LOST = 1
    """The face source lost tracking; receivers should hold and decay rather than trust the code."""
    SPEAKING = 2
    """Voice activity at capture time."""
    NO_GAZE = 4
    """Gaze was unavailable for this frame."""


@dataclass(frozen=True)
class HeadPose:
    """Head pose of the sender in its local tracking space (metres)."""

    position: np.ndarray
    """float32 [3]."""
    orientation: np.ndarray
    """float32 [4] unit quaternion (x, y, z, w)."""

    @staticmethod
    def identity() -> HeadPose:
        """The pose at the origin, looking along +z."""
        return HeadPose(np.zeros(3, np.float32), np.array([0, 0, 0, 1], np.float32))


@dataclass(frozen=True)
class Gaze:
    """Per-eye gaze directions, unit vectors in head space."""

    left: np.ndarray
    """float32 [3] left eye's gaze direction."""
    right: np.ndarray
    """float32 [3] right eye's gaze direction."""


@dataclass(frozen=True)
class LatentFrame:
    """One captured frame of one avatar as a latent code plus pose and gaze."""

    sequence: int
    """Frame counter of the sender, starting at 0 and increasing by 1 per captured frame."""
    capture_time_us: int
    """Capture time in microseconds on the sender's monotonic clock."""
    code: np.ndarray
    """float32 [D] latent code laid out as the avatar's LatentLayout."""
    head_pose: HeadPose = field(default_factory=HeadPose.identity)
    """Head pose at capture time."""
    gaze: Gaze | None = None
    """Eye gaze at capture time, if known."""
    flags: FrameFlags = FrameFlags.NONE
    """Frame flags."""
