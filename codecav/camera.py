"""Views and transforms, no GL: the View an eye renders from, and camera and object transforms as NumPy
matrices acting on column vectors (M @ p).

pyrr builds row-vector matrices; these helpers transpose them so every matrix in codecav reads the
same way as the math (clip = projection @ view @ model @ p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyrr


@dataclass(frozen=True)
class View:
    """One eye's (or the mono camera's) pose and projection for a frame.

    Matrices are NumPy row-major and act on column vectors (clip = projection @ view @ world);
    transpose them when writing GL uniforms, which are column-major.
    """

    view_matrix: np.ndarray
    """float32 [4, 4] world -> eye transform."""
    projection: np.ndarray
    """float32 [4, 4] eye -> clip transform, OpenGL conventions (NDC z in [-1, 1])."""
    width: int
    """Viewport width in pixels."""
    height: int
    """Viewport height in pixels."""

    @property
    def eye_position(self) -> np.ndarray:
        """float32 [3] the eye's position in world space."""
        return np.linalg.inv(self.view_matrix.astype(np.float64))[:3, 3].astype(np.float32)


def perspective(fovy_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """float32 [4, 4] OpenGL perspective projection (NDC z in [-1, 1])."""
    m = pyrr.matrix44.create_perspective_projection(fovy_deg, aspect, near, far, dtype=np.float32)
    return np.ascontiguousarray(m.T)


def asymmetric_projection(
    angle_left: float, angle_right: float, angle_up: float, angle_down: float, near: float, far: float
) -> np.ndarray:
    """float32 [4, 4] projection from OpenXR-style field-of-view angles in radians (left/down negative)."""
    left, right = np.tan(angle_left) * near, np.tan(angle_right) * near
    bottom, top = np.tan(angle_down) * near, np.tan(angle_up) * near
    m = pyrr.matrix44.create_perspective_projection_from_bounds(
        left, right, bottom, top, near, far, dtype=np.float32
    )
    return np.ascontiguousarray(m.T)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """float32 [4, 4] world -> eye matrix for a camera at `eye` looking at `target`."""
    up_vec = np.array([0.0, 1.0, 0.0]) if up is None else np.asarray(up, dtype=np.float64)
    m = pyrr.matrix44.create_look_at(
        np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64), up_vec, dtype=np.float32
    )
    return np.ascontiguousarray(m.T)


def translation(x: float, y: float, z: float) -> np.ndarray:
    """float32 [4, 4] translation."""
    m = np.eye(4, dtype=np.float32)
    m[:3, 3] = (x, y, z)
    return m


def rotation_y(angle_rad: float) -> np.ndarray:
    """float32 [4, 4] rotation about +y (yaw), counter-clockwise seen from above."""
    c, s = float(np.cos(angle_rad)), float(np.sin(angle_rad))
    m = np.eye(4, dtype=np.float32)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
    return m


def pose_matrix(position: np.ndarray, orientation_xyzw: np.ndarray) -> np.ndarray:
    """float32 [4, 4] rigid transform from a position and a unit quaternion (x, y, z, w)."""
    x, y, z, w = (float(v) for v in orientation_xyzw)
    m = np.eye(4, dtype=np.float32)
    m[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    m[:3, 3] = np.asarray(position, dtype=np.float32)
    return m


def project_point(view_projection: np.ndarray, point: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel coordinates (x right, y down from the top row) of a world point, for tests and picking."""
    clip = view_projection.astype(np.float64) @ np.append(np.asarray(point, dtype=np.float64), 1.0)
    ndc = clip[:3] / clip[3]
    return np.array([(ndc[0] + 1) * 0.5 * width, (1 - ndc[1]) * 0.5 * height])
