"""Gaze driver: per-eye gaze directions (unit vectors in head space) <-> ARKit eyeLook{In,Out,Up,Down}
weights, pure geometry, plus a source that replays a gaze track (an eye tracker's or a clip's)."""

from __future__ import annotations

import threading

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.latent import Gaze

YAW_RANGE_DEG = 30.0
"""Horizontal eye rotation that a weight of 1 on eyeLookIn/Out stands for."""
PITCH_RANGE_DEG = 25.0
"""Vertical eye rotation that a weight of 1 on eyeLookUp/Down stands for."""

GAZE_WEIGHTS: tuple[int, ...] = tuple(ARKIT_INDEX[n] for n in ARKIT_52 if n.startswith("eyeLook"))
"""Indices of the eight eyeLook* weights."""


def eye_angles(direction: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of a gaze direction in head space: yaw + towards the avatar's left (+x),
    pitch + up (+y); (0, 0) looks along +z."""
    d = np.asarray(direction, dtype=np.float64)
    return float(np.degrees(np.arctan2(d[0], d[2]))), float(np.degrees(np.arctan2(d[1], np.hypot(d[0], d[2]))))


def eye_direction(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """float32 [3] unit gaze direction of (yaw, pitch) in degrees; the inverse of eye_angles."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    return np.array([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], dtype=np.float32)


def gaze_to_weights(gaze: Gaze) -> np.ndarray:
    """float32 [52] with the eyeLook* weights of `gaze` (others 0), each clipped to 0..1. The left eye looks
    out (towards its temple) when it turns to the avatar's left, the right eye looks in."""
    w = np.zeros(len(ARKIT_52), dtype=np.float32)
    for side, direction in (("Left", gaze.left), ("Right", gaze.right)):
        yaw, pitch = eye_angles(direction)
        h = yaw / YAW_RANGE_DEG
        towards_left, towards_right = max(h, 0.0), max(-h, 0.0)
        out, inward = (towards_left, towards_right) if side == "Left" else (towards_right, towards_left)
        w[ARKIT_INDEX["eyeLookOut" + side]] = min(out, 1.0)
        w[ARKIT_INDEX["eyeLookIn" + side]] = min(inward, 1.0)
        w[ARKIT_INDEX["eyeLookUp" + side]] = min(max(pitch / PITCH_RANGE_DEG, 0.0), 1.0)
        w[ARKIT_INDEX["eyeLookDown" + side]] = min(max(-pitch / PITCH_RANGE_DEG, 0.0), 1.0)
    return w


def weights_to_gaze(weights: np.ndarray) -> Gaze:
    """The per-eye gaze that ARKit weights [52] describe (eyeLook* only); gaze_to_weights inverts it for
    directions within the ranges."""
    w = np.asarray(weights, dtype=np.float64)
    eyes = []
    for side in ("Left", "Right"):
        out, inward = w[ARKIT_INDEX["eyeLookOut" + side]], w[ARKIT_INDEX["eyeLookIn" + side]]
        h = (out - inward) if side == "Left" else (inward - out)
        v = w[ARKIT_INDEX["eyeLookUp" + side]] - w[ARKIT_INDEX["eyeLookDown" + side]]
        eyes.append(eye_direction(float(h) * YAW_RANGE_DEG, float(v) * PITCH_RANGE_DEG))
    return Gaze(left=eyes[0], right=eyes[1])


def gaze_confidence() -> np.ndarray:
    """float32 [52]: 1 on the eyeLook* weights, 0 elsewhere (what a gaze source knows)."""
    c = np.zeros(len(ARKIT_52), dtype=np.float32)
    c[list(GAZE_WEIGHTS)] = 1.0
    return c


class GazeTrackSource(ExpressionSource):
    """Replays per-eye gaze directions [T, 2, 3] at `fps` as ExpressionSamples (eyeLook* weights, Gaze set)."""

    name = "gaze"

    def __init__(self, directions: np.ndarray, fps: float, start_time_us: int = 0) -> None:
        """`directions` float [T, 2, 3]: left then right eye, unit vectors in head space."""
        d = np.asarray(directions, dtype=np.float32)
        if d.ndim != 3 or d.shape[1:] != (2, 3) or fps <= 0:
            raise ValueError(f"directions must be [T, 2, 3] and fps > 0, got {d.shape} at {fps}")
        self._directions = d
        self._fps = fps
        self._start = start_time_us
        self._next = 0
        self._lock = threading.Lock()
        self._confidence = gaze_confidence()

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next gaze sample (never blocks); None after the last."""
        with self._lock:
            if self._next >= len(self._directions):
                return None
            i = self._next
            self._next += 1
        gaze = Gaze(left=self._directions[i, 0].copy(), right=self._directions[i, 1].copy())
        time_us = self._start + int(round(i * 1e6 / self._fps))
        return ExpressionSample(time_us, gaze_to_weights(gaze), self._confidence.copy(), gaze=gaze)

    def close(self) -> None:
        """Stop the stream."""
        with self._lock:
            self._next = len(self._directions)
