"""Shared pieces of the renderer tests: views, placed avatars and image comparison helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from codecav.assets.package import PixelMlp
from codecav.camera import View, look_at, perspective
from codecav.decoders.base import AvatarDraw, AvatarRenderer
from codecav.decoders.pixel_mlp_reference import ReferenceAvatar
from codecav.decoders.procedural import ProceduralAvatar
from codecav.decoders.reference_raster import Fragments
from codecav.xr.headless import HeadlessTarget

SIZE = 128
"""Test image side in pixels (small: llvmpipe on 2 cores)."""

SMALL: dict[str, Any] = {"channels": 4, "hidden": (8,), "uv_frequencies": 1}
"""procedural_avatar arguments of a small MLP: llvmpipe compiles the straight-line MLP code of a
(16, 16) network in seconds, so tests that do not test the MLP itself use this one."""


def make_view(eye: Sequence[float], target: Sequence[float] = (0.0, 0.0, 0.0), size: int = SIZE) -> View:
    """A square 35-degree perspective view from `eye` towards `target`."""
    return View(look_at(np.asarray(eye, float), np.asarray(target, float)), perspective(35, 1.0, 0.05, 10.0),
                size, size)


def draw_once(
    target: HeadlessTarget, renderer: AvatarRenderer, avatars: Sequence[tuple[ProceduralAvatar, np.ndarray]],
    background: tuple[float, float, float] = (0.2, 0.3, 0.4),
) -> tuple[np.ndarray, np.ndarray]:
    """Add, update and render `avatars` (with model matrices) into view 0; (rgb, depth) top row first."""
    draws = []
    for avatar, model in avatars:
        handle = renderer.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info)
        renderer.update(handle, avatar.frame)
        draws.append(AvatarDraw(handle, model.astype(np.float32)))
    renderer.render(target.begin_frame()[0], draws, background=background)
    target.present()
    rgb, depth = target.read_rgb(0), target.read_depth(0)
    for draw in draws:
        renderer.release_avatar(draw.handle)
    return rgb, depth


def as_reference(avatar: ProceduralAvatar, model: np.ndarray, half_features: bool = False) -> ReferenceAvatar:
    """The reference renderer's view of a placed avatar (features rounded to float16 for RGBA16F)."""
    frame = avatar.frame
    if half_features:
        frame = type(frame)(frame.geometry, frame.features.astype(np.float16).astype(np.float32))
    return ReferenceAvatar(avatar.mesh, avatar.mlp, frame, model)


def silhouette_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel (8-neighbourhood) of the edge of `mask`."""
    padded = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    shifts = [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    dilated = np.logical_or.reduce(shifts)
    eroded = np.logical_and.reduce(shifts)
    result: np.ndarray = dilated & ~eroded
    return result


def constant_colour_mlp(like: PixelMlp, rgb: tuple[float, float, float]) -> PixelMlp:
    """An MLP of the same shape that outputs `rgb` everywhere (zero weights, logit biases)."""
    weights = tuple(np.zeros_like(w) for w in like.weights)
    biases = [np.zeros_like(b) for b in like.biases]
    target = np.clip(np.asarray(rgb, np.float64), 1e-3, 1 - 1e-3)
    biases[-1] = np.log(target / (1 - target)).astype(np.float32)
    return PixelMlp(weights, tuple(biases), like.activation, like.uv_frequencies)


def uv_seam_band(fragments: Fragments, index: int, uv: np.ndarray) -> np.ndarray:
    """Pixels of mesh `index` within one pixel of a UV seam (u jumps by > 0.5 between neighbours).

    Which side of a seam edge owns a pixel there is decided by GL's fixed-point fill rule, and the two
    sides sample opposite ends of the texture; those pixels are compared for coverage, not colour.
    """
    sel = fragments.mesh == index
    u = np.full(sel.shape, np.nan)
    u[sel] = fragments.interpolate(index, uv)[:, 0]
    jump = np.zeros(sel.shape, dtype=bool)
    for axis in (0, 1):
        step = np.abs(np.diff(u, axis=axis)) > 0.5
        lead = [slice(None), slice(None)]
        lead[axis] = slice(1, None)
        trail = [slice(None), slice(None)]
        trail[axis] = slice(None, -1)
        jump[tuple(lead)] |= step
        jump[tuple(trail)] |= step
    result: np.ndarray = jump
    return result
