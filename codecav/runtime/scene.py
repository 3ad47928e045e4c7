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


SEATED_DISTANCE_M = 1.1
"""Head-to-head distance across a small table: seated conversation (personal distance, 0.45-1.2 m)."""
MIN_SEAT_SPACING_M = 0.7
"""Closest two neighbours at the table sit (head to head)."""


def room_layout(count: int, distance: float = SEATED_DISTANCE_M, eye_height: float = 0.0) -> list[np.ndarray]:
    """Head->world transforms of `count` remote heads in a headset viewer's room: the viewer's head at the
    origin looking down -z (OpenXR's seated LOCAL space), the remotes life size at `eye_height`, each turned to
    face the viewer. One sits across at `distance`; several sit with the viewer evenly around a round table,
    wide enough that neighbours are MIN_SEAT_SPACING_M apart, the first on the viewer's left."""
    if count <= 0:
        return []
    seats = count + 1
    radius = max(distance / 2.0, MIN_SEAT_SPACING_M / (2.0 * np.sin(np.pi / seats)))
    transforms = []
    for k in range(1, seats):
        angle = 2.0 * np.pi * k / seats  # round the table from the viewer's seat, counter-clockwise from above
        x, z = radius * np.sin(-angle), -radius + radius * np.cos(angle)
        yaw = float(np.arctan2(-x, -z))  # +z of the head towards the viewer at the origin
        transforms.append(translation(float(x), eye_height, float(z)) @ rotation_y(yaw))
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
