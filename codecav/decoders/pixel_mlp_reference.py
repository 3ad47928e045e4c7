"""NumPy reference images of both renderers: bilinear feature sampling and the package's pixel MLP
(codecav.assets.package.run_pixel_mlp) over the visible surface found by reference_raster. Independent of
GL: the tests compare the GLSL passes against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from codecav.assets.package import MeshTopology, PixelMlp, run_pixel_mlp, texel_uv
from codecav.camera import View
from codecav.decoders.base import DecodedFrame, camera_in_head
from codecav.decoders.reference_raster import Fragments, RasterMesh, rasterize


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


def full_texture(mlp: PixelMlp, features: np.ndarray, view_dir: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float64 [H, W, 3] the DAM-style texture: the MLP at every texel centre of a `size` = (W, H) texture
    with one global view direction, features sampled bilinearly."""
    width, height = size
    uv = texel_uv(height, width)
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

    def render_positions(self) -> np.ndarray:
        """float64 [R, 3] head-space positions of the render vertices."""
        result: np.ndarray = np.asarray(self.frame.geometry, np.float64)[self.mesh.vertex_index]
        return result


@dataclass(frozen=True)
class ReferenceImage:
    """A reference rendering of a view."""

    rgb: np.ndarray
    """uint8 [H, W, 3], top row first."""
    fragments: Fragments
    """Visible surface per pixel (coverage mask, depth, which avatar)."""


AvatarShader = Callable[[int, ReferenceAvatar, Fragments], np.ndarray]
"""(index, avatar, fragments) -> float64 RGB [N, 3] in [0, 1] at the N pixels where avatar `index` is visible,
in the row-major order of Fragments.interpolate."""


def reference_image(
    avatars: Sequence[ReferenceAvatar], view: View, background: tuple[float, float, float], shade: AvatarShader
) -> ReferenceImage:
    """Rasterize `avatars` in `view`, fill the pixels each one covers with `shade`, the rest with `background`,
    and store as UNORM8: the skeleton of both reference renderers."""
    meshes = [RasterMesh(a.render_positions(), a.mesh.faces, a.model) for a in avatars]
    view_projection = np.asarray(view.projection, np.float64) @ np.asarray(view.view_matrix, np.float64)
    fragments = rasterize(meshes, view_projection, view.width, view.height)
    rgb = np.empty((view.height, view.width, 3))
    rgb[:] = background
    for index, avatar in enumerate(avatars):
        sel = fragments.mesh == index
        if sel.any():
            rgb[sel] = shade(index, avatar, fragments)
    return ReferenceImage(to_unorm8(rgb), fragments)


def reference_pica_image(
    avatars: Sequence[ReferenceAvatar], view: View, background: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> ReferenceImage:
    """What PicaRenderer should draw: per covered pixel, features at its UV and the view direction from
    its head-space surface point to the camera, through the MLP."""

    def shade(index: int, avatar: ReferenceAvatar, fragments: Fragments) -> np.ndarray:
        uv = fragments.interpolate(index, avatar.mesh.uv)
        point = fragments.interpolate(index, avatar.render_positions())
        direction = camera_in_head(avatar.model, view) - point
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return run_pixel_mlp(avatar.mlp, bilinear_sample(avatar.frame.features, uv), direction, uv)

    return reference_image(avatars, view, background, shade)


def reference_full_texture_image(
    avatars: Sequence[ReferenceAvatar],
    view: View,
    texture_size: int,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> ReferenceImage:
    """What FullTextureRenderer should draw: the MLP over a texture_size^2 UV texture with the global view
    direction (head origin -> camera), stored as UNORM8, then sampled bilinearly at each pixel's UV."""

    def shade(index: int, avatar: ReferenceAvatar, fragments: Fragments) -> np.ndarray:
        direction = camera_in_head(avatar.model, view)
        texture = to_unorm8(full_texture(avatar.mlp, avatar.frame.features, direction, (texture_size, texture_size)))
        return bilinear_sample(texture.astype(np.float64) / 255.0, fragments.interpolate(index, avatar.mesh.uv))

    return reference_image(avatars, view, background, shade)
