"""NumPy reference of the per-pixel decoder (bilinear feature sampling, UV encoding, the MLP) and of
whole images of both renderers, rasterized by reference_raster. Independent of GL: the tests compare
the GLSL passes against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codecav.assets.package import MeshTopology, PixelMlp
from codecav.camera import View
from codecav.decoders.base import DecodedFrame
from codecav.decoders.reference_raster import Fragments, RasterMesh, rasterize


def uv_encoding(uv: np.ndarray, frequencies: int) -> np.ndarray:
    """float64 [N, 4L]: for k < L: sin(2^k pi u), sin(2^k pi v), cos(2^k pi u), cos(2^k pi v)."""
    uv64 = np.asarray(uv, dtype=np.float64)
    parts = []
    for k in range(frequencies):
        a = (2.0**k) * np.pi * uv64
        parts += [np.sin(a), np.cos(a)]
    if not parts:
        return np.zeros((uv64.shape[0], 0))
    return np.concatenate(parts, axis=1)


def bilinear_sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """float64 [N, C] samples of `image` [H, W, C] (row 0 at v = 0) at `uv` [N, 2], as GL LINEAR +
    CLAMP_TO_EDGE: texel (r, c) sits at ((c + 0.5) / W, (r + 0.5) / H)."""
    img = np.asarray(image, dtype=np.float64)
    height, width = img.shape[:2]
    x = np.asarray(uv[:, 0], dtype=np.float64) * width - 0.5
    y = np.asarray(uv[:, 1], dtype=np.float64) * height - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    c0 = np.clip(x0, 0, width - 1).astype(np.int64)
    c1 = np.clip(x0 + 1, 0, width - 1).astype(np.int64)
    r0 = np.clip(y0, 0, height - 1).astype(np.int64)
    r1 = np.clip(y0 + 1, 0, height - 1).astype(np.int64)
    top = img[r0, c0] * (1 - fx) + img[r0, c1] * fx
    bottom = img[r1, c0] * (1 - fx) + img[r1, c1] * fx
    result: np.ndarray = top * (1 - fy) + bottom * fy
    return result


def run_pixel_mlp(mlp: PixelMlp, features: np.ndarray, view_dir: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """float64 [N, 3] RGB in [0, 1] from features [N, C], unit view_dir [N, 3] (surface -> camera, head
    space) and uv [N, 2]: input [features, view_dir, uv encoding], hidden relu/sin, linear, sigmoid."""
    x = np.concatenate(
        [np.asarray(features, np.float64), np.asarray(view_dir, np.float64), uv_encoding(uv, mlp.uv_frequencies)],
        axis=1,
    )
    last = len(mlp.weights) - 1
    for index, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        x = x @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)
        if index < last:
            x = np.maximum(x, 0.0) if mlp.activation == "relu" else np.sin(x)
    rgb: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return rgb


def full_texture(mlp: PixelMlp, features: np.ndarray, view_dir: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float64 [H, W, 3] the DAM-style texture: the MLP at every texel centre of a `size` = (W, H) texture
    with one global view direction, features sampled bilinearly."""
    width, height = size
    cols, rows = np.meshgrid((np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height)
    uv = np.stack([cols.ravel(), rows.ravel()], axis=1)
    feats = bilinear_sample(features, uv)
    dirs = np.broadcast_to(np.asarray(view_dir, np.float64) / np.linalg.norm(view_dir), (uv.shape[0], 3))
    return run_pixel_mlp(mlp, feats, dirs, uv).reshape(height, width, 3)


def to_unorm8(rgb: np.ndarray) -> np.ndarray:
    """uint8 of values in [0, 1], rounded to nearest as GL stores floats into UNORM8 attachments."""
    return np.clip(np.rint(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ReferenceAvatar:
    """One avatar as the reference renderers see it."""

    mesh: MeshTopology
    """Topology with UVs."""
    mlp: PixelMlp
    """Per-pixel MLP."""
    frame: DecodedFrame
    """Decoded geometry and features."""
    model: np.ndarray
    """[4, 4] head -> world."""


@dataclass(frozen=True)
class ReferenceImage:
    """A reference rendering of a view."""

    rgb: np.ndarray
    """uint8 [H, W, 3], top row first."""
    fragments: Fragments
    """Visible surface per pixel (coverage mask, depth, which avatar)."""


def _rasterize_avatars(avatars: Sequence[ReferenceAvatar], view: View) -> Fragments:
    meshes = [
        RasterMesh(np.asarray(a.frame.geometry, np.float64)[a.mesh.vertex_index], a.mesh.faces, a.model)
        for a in avatars
    ]
    view_projection = np.asarray(view.projection, np.float64) @ np.asarray(view.view_matrix, np.float64)
    return rasterize(meshes, view_projection, view.width, view.height)


def _camera_in_head(model: np.ndarray, view: View) -> np.ndarray:
    eye = np.append(view.eye_position.astype(np.float64), 1.0)
    return (np.linalg.inv(np.asarray(model, np.float64)) @ eye)[:3]


def reference_pica_image(
    avatars: Sequence[ReferenceAvatar], view: View, background: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> ReferenceImage:
    """What PicaRenderer should draw: per covered pixel, features at its UV and the view direction from
    its head-space surface point to the camera, through the MLP."""
    fragments = _rasterize_avatars(avatars, view)
    rgb = np.empty((view.height, view.width, 3))
    rgb[:] = background
    for index, avatar in enumerate(avatars):
        sel = fragments.mesh == index
        if not sel.any():
            continue
        positions = np.asarray(avatar.frame.geometry, np.float64)[avatar.mesh.vertex_index]
        uv = fragments.interpolate(index, avatar.mesh.uv)
        point = fragments.interpolate(index, positions)
        direction = _camera_in_head(avatar.model, view) - point
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        feats = bilinear_sample(avatar.frame.features, uv)
        rgb[sel] = run_pixel_mlp(avatar.mlp, feats, direction, uv)
    return ReferenceImage(to_unorm8(rgb), fragments)


def reference_full_texture_image(
    avatars: Sequence[ReferenceAvatar],
    view: View,
    texture_size: int,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> ReferenceImage:
    """What FullTextureRenderer should draw: the MLP over a texture_size^2 UV texture with the global view
    direction (head origin -> camera), stored as UNORM8, then sampled bilinearly at each pixel's UV."""
    fragments = _rasterize_avatars(avatars, view)
    rgb = np.empty((view.height, view.width, 3))
    rgb[:] = background
    for index, avatar in enumerate(avatars):
        sel = fragments.mesh == index
        if not sel.any():
            continue
        direction = _camera_in_head(avatar.model, view)
        texture = to_unorm8(full_texture(avatar.mlp, avatar.frame.features, direction, (texture_size, texture_size)))
        uv = fragments.interpolate(index, avatar.mesh.uv)
        rgb[sel] = bilinear_sample(texture.astype(np.float64) / 255.0, uv)
    return ReferenceImage(to_unorm8(rgb), fragments)
