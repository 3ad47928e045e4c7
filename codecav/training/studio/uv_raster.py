"""Rasterises per-vertex attributes of a mesh into its UV atlas with NumPy (no GL needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.assets.package import MeshTopology


@dataclass(frozen=True)
class UvRaster:
    """Attributes interpolated over the atlas; texel (r, c) sits at uv ((c + 0.5) / W, (r + 0.5) / H)."""

    values: np.ndarray
    """float32 [H, W, C] interpolated attributes (gutters filled from the nearest covered texel)."""
    covered: np.ndarray
    """bool [H, W] texels inside some triangle."""
    face: np.ndarray
    """int32 [H, W] triangle covering each texel, -1 outside."""


def rasterize_uv(mesh: MeshTopology, attributes: np.ndarray, size: int, dilate: int = 4) -> UvRaster:
    """Interpolate render-vertex `attributes` [R, C] over the `size` x `size` atlas; ~0.3 s at 1024."""
    uv = np.asarray(mesh.uv, dtype=np.float64) * size - 0.5  # texel centres at integers
    attrs = np.asarray(attributes, dtype=np.float32)
    out = np.zeros((size, size, attrs.shape[1]), dtype=np.float32)
    face_of = np.full((size, size), -1, dtype=np.int32)
    for f, (a, b, c) in enumerate(np.asarray(mesh.faces)):
        pa, pb, pc = uv[a], uv[b], uv[c]
        lo = np.maximum(np.floor(np.minimum(np.minimum(pa, pb), pc)).astype(int), 0)
        hi = np.minimum(np.ceil(np.maximum(np.maximum(pa, pb), pc)).astype(int), size - 1)
        if hi[0] < lo[0] or hi[1] < lo[1]:
            continue
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        det = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (pb[1] - pa[1])
        if abs(det) < 1e-12:
            continue
        w1 = ((xs - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (ys - pa[1])) / det
        w2 = ((pb[0] - pa[0]) * (ys - pa[1]) - (xs - pa[0]) * (pb[1] - pa[1])) / det
        w0 = 1.0 - w1 - w2
        inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
        if not inside.any():
            continue
        r, cc = ys[inside], xs[inside]
        out[r, cc] = (w0[inside, None] * attrs[a] + w1[inside, None] * attrs[b] + w2[inside, None] * attrs[c])
        face_of[r, cc] = f
    covered = face_of >= 0
    filled = covered.copy()
    for _ in range(dilate):  # grow islands so bilinear lookups at their borders stay on the island
        grown = filled.copy()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            src = np.roll(filled, (dr, dc), axis=(0, 1))
            take = src & ~grown
            out[take] = np.roll(out, (dr, dc), axis=(0, 1))[take]
            grown |= take
        filled = grown
    return UvRaster(values=out, covered=covered, face=face_of)
