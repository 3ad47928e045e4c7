"""The studio's calibrated cameras: a dome over the front hemisphere of the head, OpenCV-style KRT.

Extrinsics map world (= head space at the identity head pose) to camera coordinates: x right, y down,
z forward, in metres in memory (the Multiface KRT file stores millimetres; see codecav.training.multiface).
Pixel (u, v) = K @ (R p + t) / z, with u along image columns and v along rows (row 0 at the top),
pixel i covering [i, i + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_NAME_BASE = 400000
"""Camera names are CAMERA_NAME_BASE + index, six digits like Multiface's ('400000', '400001', ...)."""


@dataclass(frozen=True)
class Camera:
    """One calibrated camera."""

    name: str
    """Camera name (a directory name in the capture)."""
    intrinsics: np.ndarray
    """float64 [3, 3] K: fx, fy, cx, cy in pixels."""
    distortion: np.ndarray
    """float64 [5] OpenCV k1 k2 p1 p2 k3; always zero in the studio."""
    extrinsics: np.ndarray
    """float64 [3, 4] [R | t] world -> camera, t in metres."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""

    @property
    def centre(self) -> np.ndarray:
        """float64 [3] camera centre in world coordinates: -R^T t."""
        r, t = self.extrinsics[:, :3], self.extrinsics[:, 3]
        return -r.T @ t

    def project(self, points: np.ndarray) -> np.ndarray:
        """float64 [N, 2] pixel coordinates (u right, v down) of world points [N, 3]."""
        cam = np.asarray(points, dtype=np.float64) @ self.extrinsics[:, :3].T + self.extrinsics[:, 3]
        pix = cam @ self.intrinsics.T
        return pix[:, :2] / pix[:, 2:3]


@dataclass(frozen=True)
class RigConfig:
    """How to lay out the dome."""

    num_cameras: int = 32
    """Cameras (24-40 for a capture; fewer for quick tests). Camera 0 is frontal."""
    width: int = 334
    """Image width (Multiface's 1334:2048 portrait aspect at 512 rows)."""
    height: int = 512
    """Image height."""
    distance: float = 1.0
    """Camera distance from the look-at point, metres."""
    fill: float = 0.85
    """Fraction of the image height a 0.3 m tall subject spans."""
    max_azimuth_deg: float = 80.0
    """Cameras lie within +-this yaw of the face direction."""
    min_elevation_deg: float = -30.0
    """Lowest camera elevation."""
    max_elevation_deg: float = 45.0
    """Highest camera elevation."""
    target: tuple[float, float, float] = (0.0, -0.025, 0.0)
    """Look-at point in head space (a little below the head centre, to include the neck)."""


def _look_at_extrinsics(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = target - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    return np.concatenate([rot, (-rot @ centre)[:, None]], axis=1)


def make_rig(config: RigConfig | None = None) -> tuple[Camera, ...]:
    """Cameras spread evenly (a Fibonacci spiral) over the front cap; camera 0 looks straight at the face."""
    cfg = config or RigConfig()
    if cfg.num_cameras < 1 or cfg.width < 16 or cfg.height < 16:
        raise ValueError(f"rig needs >= 1 camera and images >= 16 px, got {cfg}")
    target = np.asarray(cfg.target, dtype=np.float64)
    directions = [np.array([0.0, 0.0, 1.0])]
    golden = np.pi * (3.0 - np.sqrt(5.0))
    n = cfg.num_cameras - 1
    for i in range(n):
        # Uniform in (sin elevation, azimuth) over the allowed band.
        s0, s1 = np.sin(np.radians(cfg.min_elevation_deg)), np.sin(np.radians(cfg.max_elevation_deg))
        elevation = np.arcsin(s0 + (s1 - s0) * (i + 0.5) / n)
        azimuth = np.radians(cfg.max_azimuth_deg) * np.sin(i * golden)
        directions.append(np.array([
            np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)
        ]))
    focal = cfg.fill * cfg.height * cfg.distance / 0.3
    k = np.array([[focal, 0.0, cfg.width / 2], [0.0, focal, cfg.height / 2], [0.0, 0.0, 1.0]])
    return tuple(
        Camera(
            name=str(CAMERA_NAME_BASE + i),
            intrinsics=k.copy(),
            distortion=np.zeros(5),
            extrinsics=_look_at_extrinsics(target + cfg.distance * d, target),
            width=cfg.width,
            height=cfg.height,
        )
        for i, d in enumerate(directions)
    )
