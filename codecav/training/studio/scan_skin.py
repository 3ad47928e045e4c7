"""Lee Perry-Smith's head scan (CC BY 3.0) fitted to the ICT rig and its skin carried into the ICT atlas.

Fit: a similarity (scale, rotation, translation) from seven landmarks picked on the scan's colour map and
ICT's Multi-PIE landmarks, refined by a few rounds of trimmed closest-point alignment over the face, plus a
smooth landmark-residual warp (Gaussian RBF) so eyes and mouth corners line up. Transfer: every skin texel
of the ICT atlas takes the colour, specular and displacement detail of the nearest point of the scan
surface. Eyes, eyelashes, teeth, gums and the mouth and eye sockets are ICT geometry painted with plain
colours here: they are not from the scan (its eyes are closed lids, it has no mouth interior).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from codecav.training.studio.errors import StudioDataError
from codecav.training.studio.ict_rig import IctFaceModel, data_dir, load_ict_face_model
from codecav.training.studio.uv_raster import rasterize_uv

__all__ = [
    "ScanMesh", "SkinMaps", "ScanFit", "eye_island", "load_scan", "fit_scan", "transfer_skin", "load_skin_maps",
    "skin_texels",
    "tinted",
    "write_skin_maps",
]

SCAN_LANDMARKS_PX: dict[int, tuple[float, float]] = {
    # Multi-PIE index -> (column, row) on the 1024^2 Map-COL.jpg, row 0 at the top, picked by eye.
    36: (405.0, 305.0),  # right eye, outer corner (image left)
    39: (475.0, 307.0),  # right eye, inner corner
    42: (547.0, 307.0),  # left eye, inner corner
    45: (615.0, 307.0),  # left eye, outer corner
    48: (452.0, 478.0),  # mouth, right corner
    54: (570.0, 478.0),  # mouth, left corner
}
"""Scan landmarks on its colour map; the nose tip (Multi-PIE 30) is the scan's most forward vertex."""

FACE_FIT_VERTICES = 6706
"""ICT's 'narrow face area' (vertices 0..6705, README) drives the closest-point refinement."""

WARP_RADIUS_M = 0.025
"""Gaussian radius of the landmark-residual warp."""

PART_COLOURS: dict[str, tuple[int, int, int]] = {
    "mouth_socket": (105, 45, 45), "eye_socket": (190, 120, 110), "gums_tongue": (185, 88, 88),
    "teeth": (228, 218, 192), "eyelashes": (38, 28, 22),
}
"""sRGB albedo of the synthetic parts (the eyeballs are painted on their UV islands, see _paint_eyes)."""

PART_SPECULAR: dict[str, int] = {
    "mouth_socket": 40, "eye_socket": 140, "gums_tongue": 170, "teeth": 140, "eyelashes": 10,
    "eyeball_left": 255, "eyeball_right": 255,
}
"""Specular intensity (0..255) of the synthetic parts; skin takes the scan's map."""

HEIGHT_GAIN = 3.0
"""Stored height = 128 + HEIGHT_GAIN * (high-passed scan displacement, 8-bit units)."""


@dataclass(frozen=True)
class ScanMesh:
    """The scan as converted: positions in the scan's own units (ZBrush export, ~0.26 per head height)."""

    positions: np.ndarray
    """float64 [N, 3] geometry vertices (+y up, +z out of the face)."""
    faces: np.ndarray
    """int32 [F, 3] triangles over render vertices."""
    uv: np.ndarray
    """float32 [R, 2] texture coordinates (v = 0 at the bottom of the maps)."""
    vertex_index: np.ndarray
    """int32 [R] render -> geometry vertex."""


@dataclass(frozen=True)
class SkinMaps:
    """Textures in the ICT atlas (row 0 = v 0)."""

    albedo: np.ndarray
    """uint8 [T, T, 3] sRGB albedo."""
    specular: np.ndarray
    """uint8 [T, T] specular intensity."""
    height: np.ndarray
    """uint8 [T, T] fine height detail, 128 = none (HEIGHT_GAIN scales the scan's displacement)."""
    from_scan: np.ndarray
    """bool [T, T] texels whose values come from the scan (the rest are painted or gutter)."""


@dataclass(frozen=True)
class ScanFit:
    """Scan units -> ICT head space: p_ict = scale * rotation @ p_scan + translation (+ warp)."""

    scale: float
    """Uniform scale (metres per scan unit)."""
    rotation: np.ndarray
    """float64 [3, 3]."""
    translation: np.ndarray
    """float64 [3] metres."""
    landmark_rms_m: float
    """RMS distance of the landmarks after the similarity (before the warp)."""
    surface_rms_m: float
    """RMS closest-point distance over the face after refinement (trimmed)."""

    def apply(self, points: np.ndarray) -> np.ndarray:
        """float64 [N, 3] scan points in ICT head space."""
        return self.scale * np.asarray(points, np.float64) @ self.rotation.T + self.translation

    def invert(self, points: np.ndarray) -> np.ndarray:
        """float64 [N, 3] ICT head-space points in scan units."""
        return ((np.asarray(points, np.float64) - self.translation) @ self.rotation) / self.scale


def _read_map(path: Path, mode: str) -> np.ndarray:
    """A map as an array with row 0 = v 0 (image files hold v = 1 at the top)."""
    with Image.open(path) as image:
        return np.asarray(image.convert(mode))[::-1].copy()


def load_scan(folder: Path | None = None) -> tuple[ScanMesh, dict[str, np.ndarray]]:
    """The scan mesh and its maps (colour RGB, specular, displacement; row 0 = v 0) from `data/leeperrysmith`."""
    root = (data_dir() / "leeperrysmith") if folder is None else Path(folder)
    if not (root / "mesh.npz").is_file():
        raise StudioDataError(f"{root}/mesh.npz is missing; run scripts/convert_face_sources.py")
    with np.load(root / "mesh.npz") as z:
        mesh = ScanMesh(z["positions"].astype(np.float64), z["faces"], z["uv"], z["vertex_index"])
    maps = {
        "colour": _remove_eye_markers(_read_map(root / "colour.jpg", "RGB")),
        "specular": _read_map(root / "specular.jpg", "L"),
        "displacement": _read_map(root / "displacement.jpg", "L"),
    }
    return mesh, maps


def _remove_eye_markers(colour: np.ndarray) -> np.ndarray:
    """The colour map marks each closed eye's pupil with a red dot; paint them with the lid colour around."""
    out = colour.copy()
    size = colour.shape[0]
    rgb = colour.astype(np.int32)
    for col, row in ((SCAN_LANDMARKS_PX[36][0] + SCAN_LANDMARKS_PX[39][0]) / 2, 305.0), (
        (SCAN_LANDMARKS_PX[42][0] + SCAN_LANDMARKS_PX[45][0]) / 2, 305.0
    ):
        c, r = int(col * size / 1024), int((1024 - row) * size / 1024)  # row 0 = v 0 here
        h = max(2, int(40 * size / 1024))
        box = rgb[r - h: r + h, c - h: c + h]
        red = (box[..., 0] - box[..., 1] > 70) & (box[..., 0] > 150)
        red = np.asarray(Image.fromarray((red * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(5))) > 0
        if red.any() and (~red).any():
            out[r - h: r + h, c - h: c + h][red] = np.median(box[~red], axis=0).astype(np.uint8)
    return out


def _point_at_uv(mesh: ScanMesh, uv: np.ndarray) -> np.ndarray:
    """float64 [3]: the surface point whose texture coordinate is `uv` (first triangle containing it)."""
    t = mesh.uv[mesh.faces].astype(np.float64)
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    det = np.where(np.abs(det) < 1e-15, 1e-15, det)
    w1 = ((uv[0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (uv[1] - a[:, 1])) / det
    w2 = ((b[:, 0] - a[:, 0]) * (uv[1] - a[:, 1]) - (uv[0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
    w0 = 1 - w1 - w2
    inside = np.nonzero((w0 >= 0) & (w1 >= 0) & (w2 >= 0))[0]
    if inside.size == 0:
        raise StudioDataError(f"no scan triangle covers uv {uv.tolist()}")
    f = inside[0]
    p = mesh.positions[mesh.vertex_index[mesh.faces[f]]]
    return w0[f] * p[0] + w1[f] * p[1] + w2[f] * p[2]


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale s, rotation R, translation t with dst ~ s R src + t (Umeyama 1991)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / (a**2).sum(axis=1).mean())
    return scale, rotation, mu_d - scale * rotation @ mu_s


def surface_samples(mesh: ScanMesh, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points [N, 3] spread over every triangle (barycentric grid of `steps`) and their UVs [N, 2]."""
    ij = np.array([(i, j) for i in range(steps + 1) for j in range(steps + 1 - i)], dtype=np.float64) / steps
    bary = np.stack([1 - ij.sum(axis=1), ij[:, 0], ij[:, 1]], axis=1)  # [S, 3]
    corners = mesh.positions[mesh.vertex_index[mesh.faces]]  # [F, 3, 3]
    uvs = mesh.uv[mesh.faces].astype(np.float64)  # [F, 3, 2]
    points = np.einsum("sk,fkc->fsc", bary, corners).reshape(-1, 3)
    return points, np.einsum("sk,fkc->fsc", bary, uvs).reshape(-1, 2)


class _Nearest:
    """Nearest of a fixed point set (OpenCV's FLANN k-d tree, imported only here: conversion-time only)."""

    def __init__(self, points: np.ndarray) -> None:
        try:
            import cv2
        except ImportError as exc:  # pragma: no cover - the dev environment has it
            raise StudioDataError("the skin transfer needs OpenCV: pip install opencv-python-headless") from exc
        self._points = np.ascontiguousarray(points, dtype=np.float32)
        self._index = cv2.flann_Index(self._points, {"algorithm": 1, "trees": 4})  # type: ignore[attr-defined]

    def query(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index [Q] of the nearest point and its distance [Q] for each query [Q, 3]."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        index, dist2 = self._index.knnSearch(q, 1, params={"checks": 64})
        return index[:, 0].astype(np.int64), np.sqrt(np.maximum(dist2[:, 0], 0.0)).astype(np.float64)


def _closest_uv(mesh: ScanMesh, queries: np.ndarray, steps: int = 4) -> np.ndarray:
    """float64 [Q, 2] scan UVs of the closest surface points: the triangle of the nearest surface sample,
    the query projected onto its plane, barycentrics clamped to the triangle (continuous, no mosaic)."""
    samples, _ = surface_samples(mesh, steps)
    per_face = len(samples) // len(mesh.faces)
    index, _ = _Nearest(samples).query(queries)
    faces = mesh.faces[index // per_face]
    p = mesh.positions[mesh.vertex_index[faces]]  # [Q, 3, 3]
    e1, e2, d = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], queries - p[:, 0]
    d11, d12, d22 = (e1 * e1).sum(1), (e1 * e2).sum(1), (e2 * e2).sum(1)
    b1, b2 = (d * e1).sum(1), (d * e2).sum(1)
    det = np.maximum(d11 * d22 - d12 * d12, 1e-20)
    w1 = np.clip((d22 * b1 - d12 * b2) / det, 0, 1)
    w2 = np.clip((d11 * b2 - d12 * b1) / det, 0, 1)
    total = w1 + w2
    over = total > 1
    w1[over], w2[over] = w1[over] / total[over], w2[over] / total[over]
    w0 = 1 - w1 - w2
    t = mesh.uv[faces].astype(np.float64)
    return np.asarray(w0[:, None] * t[:, 0] + w1[:, None] * t[:, 1] + w2[:, None] * t[:, 2])


def fit_scan(model: IctFaceModel, mesh: ScanMesh, rounds: int = 6) -> ScanFit:
    """Landmark similarity, then trimmed closest-point refinement over ICT's narrow face area."""
    src = [_point_at_uv(mesh, np.array([c / 1024.0, 1.0 - r / 1024.0])) for c, r in SCAN_LANDMARKS_PX.values()]
    src.append(mesh.positions[np.argmax(mesh.positions[:, 2])])
    dst = model.positions[[*model.landmarks[list(SCAN_LANDMARKS_PX)], model.landmarks[30]]].astype(np.float64)
    s_pts = np.array(src)
    scale, rotation, translation = similarity(s_pts, dst)
    landmark_rms = float(np.sqrt((((scale * s_pts @ rotation.T + translation) - dst) ** 2).sum(axis=1).mean()))
    points, _ = surface_samples(mesh, 4)
    nearest = _Nearest(points)
    face = model.positions[:FACE_FIT_VERTICES].astype(np.float64)
    rms = landmark_rms
    for _ in range(rounds):
        fit = ScanFit(scale, rotation, translation, landmark_rms, rms)
        index, dist = nearest.query(fit.invert(face))
        keep = dist * scale < np.quantile(dist * scale, 0.8)
        # Keep the landmarks in the solve so the refinement cannot slide the features apart.
        a = np.concatenate([points[index[keep]], np.repeat(s_pts, 50, axis=0)])
        b = np.concatenate([face[keep], np.repeat(dst, 50, axis=0)])
        scale, rotation, translation = similarity(a, b)
        rms = float(np.sqrt(((dist[keep] * scale) ** 2).mean()))
    return ScanFit(scale, rotation, translation, landmark_rms, rms)


def _warp(fit: ScanFit, model: IctFaceModel, mesh: ScanMesh, points: np.ndarray) -> np.ndarray:
    """ICT points moved by the Gaussian RBF of the landmark residuals (ICT landmark -> fitted scan landmark)."""
    src = [_point_at_uv(mesh, np.array([c / 1024.0, 1.0 - r / 1024.0])) for c, r in SCAN_LANDMARKS_PX.values()]
    src.append(mesh.positions[np.argmax(mesh.positions[:, 2])])
    scan_lm = fit.apply(np.array(src))
    ict_lm = model.positions[[*model.landmarks[list(SCAN_LANDMARKS_PX)], model.landmarks[30]]].astype(np.float64)
    gram = np.exp(-((ict_lm[:, None] - ict_lm[None]) ** 2).sum(-1) / (2 * WARP_RADIUS_M**2))
    coeff = np.linalg.solve(gram + 1e-6 * np.eye(len(gram)), scan_lm - ict_lm)
    k = np.exp(-((points[:, None] - ict_lm[None]) ** 2).sum(-1) / (2 * WARP_RADIUS_M**2))
    return points + k @ coeff


def _bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """float32 [N, C] bilinear samples of `image` [H, W, C] (row 0 = v 0) at texture coordinates [N, 2]."""
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1.001)
    y = np.clip(uv[:, 1] * h - 0.5, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    img = image.reshape(h, w, -1).astype(np.float32)
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy, dtype=np.float32)


IRIS_RADIUS_UV = 0.2
"""Iris radius on an ICT eyeball's UV island, as a fraction of the island's half-width. The island is a polar
map of the eyeball centred on its optical axis; the open eye shows radii up to about 0.5 (measured by rendering
radius bands), and a real iris (11.7 mm) spans about 40 % of the open eye's width."""

PUPIL_RADIUS_UV = 0.075
"""Pupil radius on the island (0.38 of the iris: a pupil in soft light)."""


def eye_island(model: IctFaceModel, name: str) -> tuple[np.ndarray, float]:
    """(centre [2], half-width) of the UV island of the eyeball part `name`: the frame `_paint_eyes` paints in."""
    island = model.mesh.uv[model.mesh.faces[model.face_part == model.part_names.index(name)].ravel()]
    lo, hi = island.min(axis=0), island.max(axis=0)
    return (lo + hi) / 2, float(np.max(hi - lo) / 2)


def _paint_eyes(model: IctFaceModel, uv: np.ndarray, part: np.ndarray) -> np.ndarray:
    """sRGB [N, 3] for eyeball texels at atlas coordinates `uv` [N, 2]: a white sclera that reddens and darkens
    towards the corners, a hazel iris with radial fibres, a dark limbal ring and a black pupil, painted by the
    distance from the centre of the eyeball's UV island (`IRIS_RADIUS_UV`)."""
    out = np.zeros((len(uv), 3), np.float32)
    for name in ("eyeball_left", "eyeball_right"):
        sel = part == model.part_names.index(name)
        centre, half = eye_island(model, name)
        d = (uv[sel] - centre) / half
        r = np.hypot(d[:, 0], d[:, 1])[:, None]
        theta = np.arctan2(d[:, 1], d[:, 0])[:, None]
        t = r / IRIS_RADIUS_UV
        fibres = 0.82 + 0.1 * np.cos(theta * 37.0) + 0.08 * np.cos(theta * 91.0 + 3.0 * t)
        hazel = np.array([112, 84, 52], np.float32) * fibres * (1.25 - 0.45 * t)
        corner = np.clip((r - 0.3) / 0.25, 0.0, 1.0)
        sclera = np.array([226, 216, 208], np.float32) - corner * np.array([40, 70, 70], np.float32)
        colour = np.where(t < 1.0, hazel, sclera)
        colour = np.where((t > 0.88) & (t < 1.06), np.array([52, 40, 32], np.float32), colour)
        colour = np.where(r < PUPIL_RADIUS_UV, np.array([10, 9, 9], np.float32), colour)
        out[sel] = colour
    return out


def _plain_scalp(albedo: np.ndarray, face: np.ndarray, scalp: np.ndarray, size: int) -> None:
    """Give the back of the head and neck (ICT's head_neck part) one skin colour, the median of the face
    tile's outer ring, with a little of the scan's fine variation: the scan's texture there is stretched
    into streaks. In place."""
    grid = face.reshape(size, size)
    border = np.zeros_like(grid)
    border[:, 1:] |= grid[:, 1:] & ~grid[:, :-1]
    border[:, :-1] |= grid[:, :-1] & ~grid[:, 1:]
    border[1:] |= grid[1:] & ~grid[:-1]
    border[:-1] |= grid[:-1] & ~grid[1:]
    ring = albedo[border.reshape(-1)]
    if len(ring) == 0 or not scalp.any():
        return
    base = np.median(ring, axis=0)
    rgb = albedo[scalp]
    albedo[scalp] = base + 0.25 * (rgb - rgb.mean(axis=0))


def transfer_skin(model: IctFaceModel | None = None, size: int = 1024, scan_folder: Path | None = None) -> SkinMaps:
    """The scan's skin in the ICT atlas at `size`^2, with the non-scan parts painted (~15 s at 1024)."""
    model = load_ict_face_model() if model is None else model
    mesh, maps = load_scan(scan_folder)
    fit = fit_scan(model, mesh)
    part_of_render = np.zeros((len(model.mesh.uv), 1), np.float32)
    part_of_render[model.mesh.faces.ravel(), 0] = np.repeat(model.face_part, 3)
    attrs = np.concatenate([model.positions[model.mesh.vertex_index], part_of_render], axis=1)
    raster = rasterize_uv(model.mesh, attrs, size, dilate=6)
    values = raster.values.reshape(-1, 4)
    covered = raster.face.reshape(-1) >= 0
    part = np.full(size * size, 255, np.int64)
    part[covered] = model.face_part[raster.face.reshape(-1)[covered]]
    # Gutter texels take the part of their dilated source so bilinear lookups at seams stay consistent.
    points = values[:, :3].astype(np.float64)
    reached = np.abs(points).sum(axis=1) > 0  # covered or filled by the dilation
    gutter = ~covered & reached
    part[gutter] = np.rint(values[gutter, 3]).astype(np.int64)
    albedo = np.zeros((size * size, 3), np.float32)
    specular = np.zeros(size * size, np.float32)
    height = np.full(size * size, 128.0, np.float32)
    skin = np.isin(part, [model.part_names.index("face"), model.part_names.index("head_neck")])
    # Skin: nearest scan point of the warped texel position, then the scan's maps at its UV.
    uv = _closest_uv(mesh, fit.invert(_warp(fit, model, mesh, points[skin])))
    albedo[skin] = _bilinear(maps["colour"], uv)
    _plain_scalp(albedo, part == model.part_names.index("face"), part == model.part_names.index("head_neck"), size)
    specular[skin] = _bilinear(maps["specular"], uv)[:, 0]
    disp = maps["displacement"]
    blurred = np.asarray(Image.fromarray(disp).filter(ImageFilter.GaussianBlur(4)), np.float32)
    detail = disp.astype(np.float32) - blurred
    height[skin] = 128 + HEIGHT_GAIN * _bilinear(detail[..., None], uv)[:, 0]
    for name, rgb in PART_COLOURS.items():
        sel = part == model.part_names.index(name)
        albedo[sel] = rgb
    eyes = np.isin(part, [model.part_names.index("eyeball_left"), model.part_names.index("eyeball_right")])
    rows, cols = np.divmod(np.flatnonzero(eyes), size)
    albedo[eyes] = _paint_eyes(model, np.stack([(cols + 0.5) / size, (rows + 0.5) / size], axis=1), part[eyes])
    for name, value in PART_SPECULAR.items():
        specular[part == model.part_names.index(name)] = value
    return SkinMaps(
        albedo=albedo.reshape(size, size, 3).clip(0, 255).round().astype(np.uint8),
        specular=specular.reshape(size, size).clip(0, 255).round().astype(np.uint8),
        height=height.reshape(size, size).clip(0, 255).round().astype(np.uint8),
        from_scan=(skin & covered).reshape(size, size),
    )


def skin_texels(model: IctFaceModel, size: int) -> np.ndarray:
    """bool [size, size]: the atlas texels of the skin (ICT's face and head_neck parts, with the gutter around
    them, as transfer_skin fills it), row 0 = v 0 (~3 s at 1024)."""
    skin = np.isin(model.face_part, [model.part_names.index("face"), model.part_names.index("head_neck")])
    is_skin = np.zeros((len(model.mesh.uv), 1), np.float32)
    is_skin[model.mesh.faces.ravel(), 0] = np.repeat(skin.astype(np.float32), 3)
    return rasterize_uv(model.mesh, is_skin, size, dilate=6).values[..., 0] > 0.5


def _linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def tinted(maps: SkinMaps, skin: np.ndarray, tone: tuple[float, float, float]) -> SkinMaps:
    """`maps` with the skin texels (`skin`, bool [T, T]) recoloured so their median becomes the sRGB `tone`: one
    gain per channel in linear light, so the scan's detail (stubble, pores, redness, blemishes) keeps its relative
    contrast. Specular and relief are unchanged; eyes, teeth and mouth interior keep their colours."""
    rgb = maps.albedo.astype(np.float64) / 255.0
    median = np.median(rgb[skin], axis=0)
    gain = _linear(np.asarray(tone, np.float64)) / np.maximum(_linear(median), 1e-6)
    out = rgb.copy()
    out[skin] = _srgb(_linear(rgb[skin]) * gain)
    return replace(maps, albedo=(out * 255.0).round().clip(0, 255).astype(np.uint8))


FILES = {"albedo": "albedo.jpg", "specular": "specular.jpg", "height": "height.jpg"}
"""File of each map in `data/ict_skin` (stored flipped: the top row is v = 1, like the studio's PNGs)."""


def write_skin_maps(folder: Path, size: int = 1024) -> SkinMaps:
    """Transfer the skin and write its maps into `folder` (what the conversion script commits)."""
    maps = transfer_skin(size=size)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(maps.albedo[::-1]).save(folder / FILES["albedo"], quality=92, optimize=True)
    Image.fromarray(maps.specular[::-1]).save(folder / FILES["specular"], quality=90, optimize=True)
    Image.fromarray(maps.height[::-1]).save(folder / FILES["height"], quality=92, optimize=True)
    return maps


def load_skin_maps(folder: Path | None = None) -> SkinMaps:
    """The committed skin maps in the ICT atlas (row 0 = v 0); `from_scan` is not stored and reads all False."""
    root = (data_dir() / "ict_skin") if folder is None else Path(folder)
    if not (root / FILES["albedo"]).is_file():
        raise StudioDataError(f"{root} has no skin maps; run scripts/convert_face_sources.py")
    albedo = _read_map(root / FILES["albedo"], "RGB")
    return SkinMaps(
        albedo=albedo,
        specular=_read_map(root / FILES["specular"], "L"),
        height=_read_map(root / FILES["height"], "L"),
        from_scan=np.zeros(albedo.shape[:2], bool),
    )
