"""The seated origin: the headset's pose in the runtime's reference space -> the head pose a call sends.

OpenXR reports the HMD (VIEW space) in LOCAL or STAGE space, looking down its -z. A call sends the head pose in
codecav's head space (+z out of the face, +x the avatar's left; codecav.latent.HeadPose) relative to where the
user sat when the call began: the first pose is the origin (its position and its heading; pitch and roll stay
relative to gravity, so looking down at the start is not "straight ahead"). When the runtime recentres its
reference space (XrEventDataReferenceSpaceChangePending) `recentre()` makes the next pose the origin again.
Pure NumPy: no GL, no OpenXR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.latent import Gaze, HeadPose


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 [4] Hamilton product a * b of quaternions (x, y, z, w): rotate by b, then by a."""
    ax, ay, az, aw = (float(v) for v in a)
    bx, by, bz, bw = (float(v) for v in b)
    return np.array([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """float64 [3]: vector `v` rotated by the unit quaternion `q` (x, y, z, w)."""
    p = np.array([*np.asarray(v, np.float64), 0.0])
    conj = np.array([-q[0], -q[1], -q[2], q[3]], np.float64)
    return quat_multiply(quat_multiply(q, p), conj)[:3]


def yaw_quat(yaw_rad: float) -> np.ndarray:
    """float64 [4]: rotation by `yaw_rad` about +y (counter-clockwise seen from above)."""
    return np.array([0.0, np.sin(yaw_rad / 2), 0.0, np.cos(yaw_rad / 2)])


def heading(orientation_xyzw: np.ndarray) -> float:
    """Yaw in radians of an OpenXR orientation: the angle about +y that turns -z towards where it looks
    (0: looking down -z; +pi/2: looking down -x, turned left)."""
    forward = quat_rotate(np.asarray(orientation_xyzw, np.float64), np.array([0.0, 0.0, -1.0]))
    return float(np.arctan2(-forward[0], -forward[2]))


def openxr_to_head(position: np.ndarray, orientation_xyzw: np.ndarray) -> HeadPose:
    """An OpenXR pose (looking down -z) as a codecav HeadPose (looking down +z): a half turn about +y, so
    turning left stays turning left, and nodding down stays nodding down."""
    p = np.asarray(position, np.float64)
    q = np.asarray(orientation_xyzw, np.float64)
    q = q / np.linalg.norm(q)
    if q[3] < 0:  # one hemisphere, so equal rotations compare equal
        q = -q
    return HeadPose(np.array([-p[0], p[1], -p[2]], np.float32), np.array([-q[0], q[1], -q[2], q[3]], np.float32))


def openxr_gaze_to_head(gaze: Gaze) -> Gaze:
    """Gaze rays in OpenXR VIEW space (looking down -z) as rays in codecav head space (looking down +z)."""
    flip = np.array([-1.0, 1.0, -1.0], np.float32)
    return Gaze(np.asarray(gaze.left, np.float32) * flip, np.asarray(gaze.right, np.float32) * flip)


@dataclass(frozen=True)
class Origin:
    """Where the seated user was when calibrated, in the runtime's reference space."""

    position: np.ndarray
    """float32 [3] the HMD position at calibration."""
    yaw_rad: float
    """The HMD heading at calibration (see `heading`)."""


class SeatedOrigin:
    """Calibrates on the first head pose (and again after `recentre`) and turns runtime poses into the head pose
    relative to it, in codecav head space."""

    def __init__(self) -> None:
        self.origin: Origin | None = None
        """The current origin; None until the first pose (or after `recentre`)."""
        self.calibrations = 0
        """How often an origin was taken (1 after the first pose; +1 per recentring)."""

    def recentre(self) -> None:
        """Take the next pose as the origin (the runtime recentred its reference space, or the user asked)."""
        self.origin = None

    def calibrate(self, position: np.ndarray, orientation_xyzw: np.ndarray) -> Origin:
        """Make this runtime pose the origin (its position and heading)."""
        self.origin = Origin(np.asarray(position, np.float32).copy(), heading(orientation_xyzw))
        self.calibrations += 1
        return self.origin

    def head_pose(self, position: np.ndarray, orientation_xyzw: np.ndarray) -> HeadPose:
        """The runtime pose relative to the origin (calibrating on it first if there is none), as a HeadPose."""
        origin = self.origin or self.calibrate(position, orientation_xyzw)
        return relative_head_pose(origin, position, orientation_xyzw)


def relative_head_pose(origin: Origin, position: np.ndarray, orientation_xyzw: np.ndarray) -> HeadPose:
    """A runtime pose relative to `origin` (undo its heading, then its position) in codecav head space."""
    undo = yaw_quat(-origin.yaw_rad)
    offset = quat_rotate(undo, np.asarray(position, np.float64) - origin.position.astype(np.float64))
    turned = quat_multiply(undo, np.asarray(orientation_xyzw, np.float64))
    return openxr_to_head(offset, turned)
