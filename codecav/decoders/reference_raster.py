"""NumPy reference rasterizer: what GL should draw for meshes in a view, for tests and golden images.

Vectorised over the pixels of each triangle's bounding box: edge functions at pixel centres, back-face
culling (CCW front), a depth test across all meshes, and perspective-correct barycentrics. No clipping:
every vertex must be in front of the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RasterMesh:
    """A triangle mesh placed for rasterization."""

    positions: np.ndarray
    """float [R, 3] vertex positions in the mesh's own (head) space."""
    faces: np.ndarray
    """int [F, 3] CCW-outward triangles."""
    model: np.ndarray
    """float [4, 4] mesh space -> world."""


@dataclass(frozen=True)
class Fragments:
    """The visible surface per pixel, top image row first."""

    mesh: np.ndarray
    """int [H, W] index of the visible mesh, -1 where nothing is drawn."""
    corners: np.ndarray
    """int [H, W, 3] render-vertex indices of the visible triangle's corners, -1 where nothing is drawn."""
    barycentric: np.ndarray
    """float64 [H, W, 3] perspective-correct barycentrics of the pixel centre in that triangle."""
    depth: np.ndarray
    """float64 [H, W] window depth in [0, 1], 1 where nothing is drawn."""

    @property
    def mask(self) -> np.ndarray:
        """bool [H, W] covered pixels."""
        result: np.ndarray = self.mesh >= 0
        return result

    def interpolate(self, index: int, attribute: np.ndarray) -> np.ndarray:
        """float64 [N, K] of per-vertex `attribute` [R, K] of mesh `index` at the pixels it covers,
        in row-major order of `self.mesh == index`."""
        sel = self.mesh == index
        corners = self.corners[sel]
        result: np.ndarray = np.einsum("nk,nkd->nd", self.barycentric[sel], np.asarray(attribute, np.float64)[corners])
        return result


def rasterize(meshes: Sequence[RasterMesh], view_projection: np.ndarray, width: int, height: int) -> Fragments:
    """Rasterize `meshes` (world via their model matrices, then `view_projection`) like GL with
    depth test LESS and back faces culled."""
    depth = np.ones((height, width))
    mesh_id = np.full((height, width), -1, dtype=np.int64)
    corner_ids = np.full((height, width, 3), -1, dtype=np.int64)
    bary = np.zeros((height, width, 3))
    px = np.arange(width) + 0.5
    py = np.arange(height) + 0.5
    vp = np.asarray(view_projection, np.float64)
    for m, mesh in enumerate(meshes):
        pos = np.asarray(mesh.positions, np.float64)
        clip = (vp @ np.asarray(mesh.model, np.float64) @ np.c_[pos, np.ones(len(pos))].T).T
        if np.any(clip[:, 3] <= 1e-9):
            raise ValueError("reference rasterizer does not clip: a vertex is behind the camera")
        ndc = clip[:, :3] / clip[:, 3:4]
        win = np.c_[(ndc[:, 0] + 1) * 0.5 * width, (ndc[:, 1] + 1) * 0.5 * height, ndc[:, 2] * 0.5 + 0.5]
        inv_w = 1.0 / clip[:, 3]
        for tri in np.asarray(mesh.faces):
            a, b, c = win[tri[0]], win[tri[1]], win[tri[2]]
            area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
            if area <= 0:  # back-facing (or degenerate) in window space, y up
                continue
            x0 = max(int(np.floor(min(a[0], b[0], c[0]) - 0.5)), 0)
            x1 = min(int(np.ceil(max(a[0], b[0], c[0]) - 0.5)), width - 1)
            y0 = max(int(np.floor(min(a[1], b[1], c[1]) - 0.5)), 0)
            y1 = min(int(np.ceil(max(a[1], b[1], c[1]) - 0.5)), height - 1)
            if x0 > x1 or y0 > y1:
                continue
            gx, gy = np.meshgrid(px[x0 : x1 + 1], py[y0 : y1 + 1])
            l0 = ((b[0] - gx) * (c[1] - gy) - (b[1] - gy) * (c[0] - gx)) / area
            l1 = ((c[0] - gx) * (a[1] - gy) - (c[1] - gy) * (a[0] - gx)) / area
            l2 = 1.0 - l0 - l1
            inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
            z = l0 * a[2] + l1 * b[2] + l2 * c[2]
            window = depth[y0 : y1 + 1, x0 : x1 + 1]
            win_pass = inside & (z < window) & (z >= 0) & (z <= 1)
            if not win_pass.any():
                continue
            p = np.stack([l0 * inv_w[tri[0]], l1 * inv_w[tri[1]], l2 * inv_w[tri[2]]], axis=-1)
            p /= p.sum(axis=-1, keepdims=True)
            window[win_pass] = z[win_pass]
            mesh_id[y0 : y1 + 1, x0 : x1 + 1][win_pass] = m
            corner_ids[y0 : y1 + 1, x0 : x1 + 1][win_pass] = tri
            bary[y0 : y1 + 1, x0 : x1 + 1][win_pass] = p[win_pass]
    flip = slice(None, None, -1)  # GL rows go bottom-up; images top row first
    return Fragments(*(np.ascontiguousarray(a[flip]) for a in (mesh_id, corner_ids, bary, depth)))
