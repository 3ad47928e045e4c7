"""Scene data: avatar instances with world transforms, cameras and a background.

Scene data imports neither GL nor OpenXR; `codecav.runtime.scene_renderer` maps it to draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codecav.camera import View, look_at, perspective, rotation_y, translation

DEFAULT_IPD_M = 0.063
"""Default interpupillary distance for stereo views, metres (the simulated OpenXR HMD uses ~63 mm)."""


@dataclass
class AvatarInstance:
    """One avatar placed in the scene; several instances may share one avatar package."""

    avatar_key: str
    """Key of the loaded avatar (see SceneRenderer.add_avatar)."""
    transform: np.ndarray
    """float32 [4, 4] head space -> world."""
    code: np.ndarray
    """float32 [D] current latent code."""
    peer: str = "local"
    """Whose avatar it is (a remote peer id), for profiler spans."""
    frame: int | None = None
    """The LatentFrame sequence the code came from, for profiler spans."""


@dataclass
class Scene:
    """What to draw: avatar instances and a background colour."""

    instances: list[AvatarInstance] = field(default_factory=list)
    """Avatar instances, in no particular order (depth testing resolves occlusion)."""
    background: tuple[float, float, float] = (0.08, 0.09, 0.11)
    """Linear RGB clear colour."""


def row_layout(count: int, spacing: float = 0.3, depth: float = 0.0, face_origin: bool = True) -> list[np.ndarray]:
    """Head->world transforms for `count` heads in a row along x at z=`depth`, each turned towards the
    viewer at +z (or facing +z when `face_origin` is False)."""
    transforms = []
    for i in range(count):
        x = (i - (count - 1) / 2.0) * spacing
        yaw = -float(np.arctan2(x, 1.5)) * 0.5 if face_origin else 0.0
        transforms.append(translation(x, 0.0, depth) @ rotation_y(yaw))
    return transforms


def camera_views(
    width: int,
    height: int,
    eye: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0),
    target: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
    fovy_deg: float = 35.0,
    stereo: bool = False,
    ipd: float = DEFAULT_IPD_M,
    near: float = 0.05,
    far: float = 20.0,
) -> list[View]:
    """One mono view, or two (left, right) separated by `ipd` along the camera's x axis."""
    eye_v = np.asarray(eye, dtype=np.float64)
    target_v = np.asarray(target, dtype=np.float64)
    projection = perspective(fovy_deg, width / height, near, far)
    if not stereo:
        return [View(look_at(eye_v, target_v), projection, width, height)]
    centre = look_at(eye_v, target_v)
    right_axis = centre[0, :3].astype(np.float64)  # row 0 of the rotation = camera x axis in world
    views = []
    for sign in (-0.5, 0.5):
        offset = right_axis * (sign * ipd)
        views.append(View(look_at(eye_v + offset, target_v + offset), projection, width, height))
    return views
