"""Blending of received frames (pure): codes and positions linearly, orientations by slerp, gaze by nlerp."""

from __future__ import annotations

import numpy as np

from codecav.latent import Gaze, HeadPose


def slerp(q0: np.ndarray, q1: np.ndarray, w: float) -> np.ndarray:
    """float32 [4] unit quaternion (x, y, z, w) a fraction `w` of the way from q0 to q1 along the short arc."""
    a = q0.astype(np.float64)
    b = q1.astype(np.float64)
    dot = float(np.dot(a, b))
    if dot < 0.0:  # q and -q are the same rotation: take the short way round
        b, dot = -b, -dot
    if dot > 0.9995:  # nearly parallel: lerp is exact enough and avoids dividing by sin(~0)
        out = a + w * (b - a)
    else:
        theta = float(np.arccos(min(dot, 1.0)))
        out = (np.sin((1.0 - w) * theta) * a + np.sin(w * theta) * b) / np.sin(theta)
    return (out / np.linalg.norm(out)).astype(np.float32)


def lerp_pose(p0: HeadPose, p1: HeadPose, w: float) -> HeadPose:
    """Head pose a fraction `w` from p0 to p1: position linear, orientation slerp."""
    position = (p0.position.astype(np.float64) * (1.0 - w) + p1.position.astype(np.float64) * w).astype(np.float32)
    return HeadPose(position, slerp(p0.orientation, p1.orientation, w))


def _nlerp(v0: np.ndarray, v1: np.ndarray, w: float) -> np.ndarray:
    out = v0.astype(np.float64) * (1.0 - w) + v1.astype(np.float64) * w
    norm = float(np.linalg.norm(out))
    if norm < 1e-6:  # opposite directions half way: keep the nearer end
        return (v0 if w < 0.5 else v1).astype(np.float32)
    return (out / norm).astype(np.float32)


def lerp_gaze(g0: Gaze | None, g1: Gaze | None, w: float) -> Gaze | None:
    """Gaze a fraction `w` from g0 to g1 (normalized lerp per eye); the known one if only one is known."""
    if g0 is None or g1 is None:
        return g1 if w >= 0.5 or g0 is None else g0
    return Gaze(_nlerp(g0.left, g1.left, w), _nlerp(g0.right, g1.right, w))


def decay_weight(elapsed_us: float, hold_us: float, time_constant_us: float) -> float:
    """1 while the hold lasts, then exp(-(elapsed - hold) / time_constant): how much of the last code to keep."""
    if elapsed_us <= hold_us:
        return 1.0
    if time_constant_us <= 0.0:
        return 0.0
    return float(np.exp(-(elapsed_us - hold_us) / time_constant_us))
