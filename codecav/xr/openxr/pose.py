"""OpenXR poses and views as codecav's: quaternions, vectors and a View from an XrView."""

from __future__ import annotations

from typing import Any

import numpy as np

from codecav.camera import View, asymmetric_projection, pose_matrix


def quat_xyzw(q: Any) -> np.ndarray:
    """float32 [x, y, z, w] of an XrQuaternionf."""
    return np.array([q.x, q.y, q.z, q.w], np.float32)


def vec3(v: Any) -> np.ndarray:
    """float32 [x, y, z] of an XrVector3f."""
    return np.array([v.x, v.y, v.z], np.float32)


def view_from_pose(
    position: np.ndarray, orientation_xyzw: np.ndarray, fov: tuple[float, float, float, float], near: float,
    far: float, width: int, height: int,
) -> View:
    """A View from an XrView: view matrix = inverse of the eye pose, projection from the FOV angles
    (left, right, up, down in radians; left and down negative)."""
    eye_to_world = pose_matrix(position, orientation_xyzw)
    view_matrix = np.linalg.inv(eye_to_world.astype(np.float64)).astype(np.float32)
    return View(view_matrix, asymmetric_projection(*fov, near, far), width, height)
