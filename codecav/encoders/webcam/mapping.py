"""Pure mappings from what MediaPipe's FaceLandmarker reports to codecav's conventions: blendshape scores to
ARKit-52 order, its facial transformation matrix (canonical face -> camera, centimetres) to a HeadPose in
metres, and the detection's geometry to a per-weight confidence.

MediaPipe's canonical face space already is codecav head space up to units (+x the face's left, +y up, +z out
of the face); its camera space is OpenGL's (+x image right, +y up, the camera looking along -z). A webcam's
tracking space is that camera space, so a face looking straight into the camera has the identity orientation.
Names ending in Left/Right mean the person's left/right as in ARKit, for an unmirrored image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.latent import HeadPose

MEDIAPIPE_BLENDSHAPES: tuple[str, ...] = ("_neutral",) + ARKIT_52[:-1]
"""The 52 categories of MediaPipe's blendshape head, in its output order: `_neutral` then ARKit without
tongueOut."""
CM_PER_M = 100.0
"""MediaPipe's face geometry is in centimetres."""
KNOWN: np.ndarray = np.array([name != "tongueOut" for name in ARKIT_52], dtype=np.float32)
"""float32 [52]: 1 for the 51 weights MediaPipe estimates, 0 for tongueOut."""
_SIDE: np.ndarray = np.array([1 if n.endswith("Left") else -1 if n.endswith("Right") else 0 for n in ARKIT_52])
_EYE_LOOK = {side: [ARKIT_INDEX[f"eyeLook{d}{side}"] for d in ("In", "Out", "Up", "Down")]
             for side in ("Left", "Right")}
LEFT_IRIS, RIGHT_IRIS = 473, 468
"""Landmark indices of the iris centres (the person's left and right eye) in MediaPipe's 478-point mesh."""


def arkit_from_blendshapes(names: Sequence[str], scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """float32 [52] in ARKIT_52 order from MediaPipe category names and scores (`_neutral` and unknown names
    dropped, tongueOut 0), clipped to 0..1."""
    weights = np.zeros(len(ARKIT_52), np.float32)
    for name, score in zip(names, scores, strict=True):
        index = ARKIT_INDEX.get(name)
        if index is not None:
            weights[index] = score
    return np.clip(weights, 0.0, 1.0)


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """float32 [4] unit quaternion (x, y, z, w) with w >= 0 of a 3x3 rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    quat = np.asarray(q, np.float64)
    quat /= np.linalg.norm(quat)
    return (quat if quat[3] >= 0 else -quat).astype(np.float32)


def head_pose_from_transform(transform: np.ndarray, origin_m: np.ndarray | None = None) -> HeadPose:
    """HeadPose of MediaPipe's 4x4 facial transformation matrix (column vectors, centimetres): orientation of
    head space in camera space, position in metres relative to `origin_m` (camera space) or the camera."""
    m = np.asarray(transform, np.float64)
    position = m[:3, 3] / CM_PER_M
    if origin_m is not None:
        position = position - np.asarray(origin_m, np.float64)
    return HeadPose(position.astype(np.float32), rotation_to_quaternion(m[:3, :3]))


def head_angles(transform: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of the face's +z axis in camera space: yaw + when the face turns to its own
    left (towards image right), pitch + when it looks up; (0, 0) faces the camera."""
    forward = np.asarray(transform, np.float64)[:3, 2]
    yaw = np.degrees(np.arctan2(forward[0], forward[2]))
    pitch = np.degrees(np.arctan2(forward[1], np.hypot(forward[0], forward[2])))
    return float(yaw), float(pitch)


def _falloff(value: float, start: float, end: float) -> float:
    """1 below `start`, 0 above `end`, a smoothstep between."""
    t = min(max((value - start) / (end - start), 0.0), 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class ConfidenceModel:
    """How detection geometry turns into per-weight confidence (heuristics, documented in docs/webcam.md)."""

    min_iris_px: float = 8.0
    """Distance between the iris centres (pixels) at or below which the face is too small to trust at all."""
    full_iris_px: float = 30.0
    """Distance between the iris centres (pixels) from which size no longer lowers confidence."""
    side_yaw_deg: tuple[float, float] = (25.0, 60.0)
    """Yaw range over which weights of the side turning away from the camera fade to 0."""
    centre_yaw_deg: tuple[float, float] = (40.0, 75.0)
    """Yaw range over which unsided weights (jaw, mouth centre, brow centre) fade to 0."""
    pitch_deg: tuple[float, float] = (30.0, 60.0)
    """Pitch range over which all weights fade to 0."""

    def confidence(self, transform: np.ndarray, landmarks: np.ndarray, image_size: tuple[int, int],
                   weights: np.ndarray) -> np.ndarray:
        """float32 [52] in 0..1 for a detected face: face size, how far each side is turned away, and for
        eyeLook* how open that eye is (a closed eye says nothing about gaze); tongueOut 0."""
        width, height = image_size
        iris = (landmarks[LEFT_IRIS, :2] - landmarks[RIGHT_IRIS, :2]) * np.array([width, height], np.float32)
        size = 1.0 - _falloff(float(np.hypot(*iris)), self.min_iris_px, self.full_iris_px)
        yaw, pitch = head_angles(transform)
        # +yaw turns the face's left side away from the camera.
        by_side = np.array([_falloff(-yaw, *self.side_yaw_deg),  # Right weights (side -1)
                            _falloff(abs(yaw), *self.centre_yaw_deg),  # unsided (0)
                            _falloff(yaw, *self.side_yaw_deg)], np.float32)  # Left weights (+1)
        conf = by_side[_SIDE + 1] * (size * _falloff(abs(pitch), *self.pitch_deg)) * KNOWN
        for side, indices in _EYE_LOOK.items():
            conf[indices] *= 1.0 - float(weights[ARKIT_INDEX["eyeBlink" + side]])
        return np.clip(conf, 0.0, 1.0).astype(np.float32)
