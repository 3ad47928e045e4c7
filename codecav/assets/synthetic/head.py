"""The one procedural head, for synthetic avatars and renderer tests: a head-sized UV-sphere ellipsoid with a
small nose bump (poles merged, UV seam at the back of the head with render vertices split there, CCW outward
winding), a smooth feature map of head directions (eyes, mouth, hair cap, waves) and a random pixel MLP
calibrated so the shaded head is smooth, coloured and clearly non-uniform. Seeded, untrained."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp, mlp_input, mlp_logits, texel_uv

HEAD_RADII_M = (0.09, 0.12, 0.10)
"""Ellipsoid radii x (ear to ear), y (chin to crown), z (back to face), metres."""
NOSE_HEIGHT = 0.12
"""Nose bump as a fraction of the radius at the front (about 1.2 cm)."""
RGB_RANGE = (0.15, 0.9)
"""The pixel MLP's output is calibrated into this range over the head (zero code, many view directions)."""


@dataclass(frozen=True)
class HeadMesh:
    """Topology plus rest geometry of the procedural head."""

    topology: MeshTopology
    """Faces over render vertices, UVs, render -> geometry vertex map."""
    rest: np.ndarray
    """float32 [V, 3] rest positions in head space (metres)."""
    normals: np.ndarray
    """float32 [V, 3] unit outward normals of the rest shape (ellipsoid normals)."""
    directions: np.ndarray
    """float32 [V, 3] unit direction of each geometry vertex from the centre (its point on the unit sphere)."""


def sphere_direction(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit direction [..., 3] for latitude (+y up) and longitude, longitude 0 at the back (-z), pi at the
    face (+z), growing towards +x (the avatar's left), so u = lon / 2pi runs left to right seen from the front."""
    return np.stack([-np.cos(lat) * np.sin(lon), np.sin(lat), -np.cos(lat) * np.cos(lon)], axis=-1)


def uv_direction(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit direction [..., 3] of the sphere point at texture coordinates (u, v): lon = 2pi u, v = 0 at the
    bottom pole, 1 at the top."""
    return sphere_direction(np.pi * (np.asarray(v) - 0.5), 2 * np.pi * np.asarray(u))


def head_mesh(rings: int = 32, segments: int = 48) -> HeadMesh:
    """The head with `rings` latitude bands and `segments` longitude sectors: V = (rings - 1) * segments + 2
    geometry vertices, R = (rings + 1) * (segments + 1) render vertices, F = 2 * segments * (rings - 1)."""
    if rings < 3 or segments < 3:
        raise ValueError(f"head mesh needs rings >= 3 and segments >= 3, got {rings}, {segments}")
    r_idx, s_idx = np.meshgrid(np.arange(rings + 1), np.arange(segments + 1), indexing="ij")
    lat = np.pi * r_idx / rings - np.pi / 2
    lon = 2 * np.pi * s_idx / segments
    # Geometry vertices: bottom pole, the inner rings (seam column shared with column 0), top pole.
    geo = 1 + (r_idx - 1) * segments + (s_idx % segments)
    geo[0, :] = 0
    geo[rings, :] = (rings - 1) * segments + 1
    count = (rings - 1) * segments + 2
    directions = np.zeros((count, 3))
    directions[geo.ravel()] = sphere_direction(lat, lon).reshape(-1, 3)
    radii = np.asarray(HEAD_RADII_M)
    rest = directions * radii * _nose(directions)[:, None]
    normals = directions / radii**2  # ellipsoid normal; the bump is too gentle to matter for shading tests
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    render = r_idx * (segments + 1) + s_idx
    faces = []
    for r in range(rings):
        a, b = render[r, :-1], render[r, 1:]
        c, d = render[r + 1, :-1], render[r + 1, 1:]
        if r > 0:  # CCW seen from outside: longitude grows to the viewer's right, latitude upwards
            faces.append(np.stack([a, b, d], axis=1))
        if r < rings - 1:
            faces.append(np.stack([a, d, c], axis=1))
    uv = np.stack([s_idx / segments, r_idx / rings], axis=-1).reshape(-1, 2)
    topology = MeshTopology(
        faces=np.ascontiguousarray(np.concatenate(faces), dtype=np.int32),
        uv=np.ascontiguousarray(uv, dtype=np.float32),
        vertex_index=np.ascontiguousarray(geo.ravel(), dtype=np.int32),
    )
    return HeadMesh(topology, rest.astype(np.float32), normals.astype(np.float32), directions.astype(np.float32))


def _nose(directions: np.ndarray) -> np.ndarray:
    """Radial scale with a smooth bump just below the centre of the face."""
    centre = np.array([0.0, -0.08, 1.0]) / np.linalg.norm([0.0, -0.08, 1.0])
    dist2 = np.sum((directions - centre) ** 2, axis=1)
    scale: np.ndarray = 1.0 + NOSE_HEIGHT * np.exp(-dist2 / (2 * 0.13**2))
    return scale


def _landmark(lat: float, lon: float) -> np.ndarray:
    return sphere_direction(np.array(lat), np.array(lon))


EYES = (_landmark(0.12, np.pi - 0.36), _landmark(0.12, np.pi + 0.36))
"""Head directions of the eye centres (left, right as seen from the front)."""
MOUTH = _landmark(-0.42, np.pi)
"""Head direction of the mouth centre."""


@dataclass(frozen=True)
class HeadConfig:
    """Sizes of a procedural head (build_synthetic_avatar checks them; see its arguments)."""

    feature_channels: int = 8
    """Feature channels C (a multiple of 4, at most 16, for the renderers' RGBA texture layers)."""
    feature_size: int = 64
    """Side of the square feature map."""
    hidden: tuple[int, ...] = (16, 16)
    """Hidden-layer widths of the pixel MLP."""
    activation: str = "relu"
    """Hidden activation of the pixel MLP, one of codecav.assets.package.ACTIVATIONS."""
    uv_frequencies: int = 2
    """UV positional-encoding frequencies L of the pixel MLP."""
    mesh_resolution: tuple[int, int] = (32, 48)
    """(rings, segments) of the head mesh, each >= 3."""


@dataclass(frozen=True)
class ProceduralHead:
    """Mesh, feature map and pixel MLP of one procedural head."""

    mesh: HeadMesh
    """Topology, rest geometry, normals and directions."""
    feature_info: FeatureMapInfo
    """Feature-map shape."""
    features: np.ndarray
    """float32 [C, H, W] in [-1, 1], smooth over the head (see base_features)."""
    mlp: PixelMlp
    """float32 pixel MLP calibrated into RGB_RANGE on `features`."""


def procedural_head(rng: np.random.Generator, config: HeadConfig) -> ProceduralHead:
    """The head of `config`, drawing features then MLP weights from `rng` (the caller may go on drawing from
    it, as build_synthetic_avatar does for the decoder weights)."""
    mesh = head_mesh(*config.mesh_resolution)
    info = FeatureMapInfo(config.feature_channels, config.feature_size, config.feature_size)
    features = base_features(rng, info)
    mlp = calibrated_mlp(rng, features, config.hidden, config.activation, config.uv_frequencies)
    return ProceduralHead(mesh, info, features, mlp)


def texel_directions(info: FeatureMapInfo) -> tuple[np.ndarray, np.ndarray]:
    """(uv [H*W, 2] texel centres in row-major order, unit head directions [H*W, 3] of those texels)."""
    uv = texel_uv(info.height, info.width)
    return uv, uv_direction(uv[:, 0], uv[:, 1])


def base_features(rng: np.random.Generator, info: FeatureMapInfo) -> np.ndarray:
    """float32 [C, H, W] in [-1, 1]: smooth functions of the head direction (so no seam and no pole
    artefacts): 0 eyes, 1 mouth, 2 hair cap, the rest random low-frequency waves."""
    _, dirs = texel_directions(info)
    eye_width = rng.uniform(0.08, 0.12)
    channels = [blobs(dirs, EYES, eye_width)]
    d = dirs - MOUTH
    channels.append(np.exp(-(d[:, 0] ** 2) / (2 * rng.uniform(0.12, 0.2) ** 2) - d[:, 1] ** 2 / (2 * 0.05**2)))
    hair_axis = np.array([0.0, 1.0, -rng.uniform(0.4, 1.0)])
    hair_axis /= np.linalg.norm(hair_axis)
    channels.append(1.0 / (1.0 + np.exp(-14.0 * (dirs @ hair_axis - rng.uniform(0.1, 0.4)))))
    while len(channels) < info.channels:
        wave = rng.standard_normal(3)
        wave *= rng.uniform(1.5, 3.5) / np.linalg.norm(wave)
        channels.append(np.sin(dirs @ wave + rng.uniform(0, 2 * np.pi)))
    out = np.stack(channels[: info.channels])
    lo, hi = out.min(axis=1, keepdims=True), out.max(axis=1, keepdims=True)
    out = 2 * (out - lo) / np.maximum(hi - lo, 1e-6) - 1
    return out.reshape(info.channels, info.height, info.width).astype(np.float32)


def blobs(dirs: np.ndarray, centres: Sequence[np.ndarray], width: float) -> np.ndarray:
    """[N] sum of Gaussian bumps of `width` (chord length) around unit `centres`."""
    out = np.zeros(len(dirs))
    for centre in centres:
        out += np.exp(-np.sum((dirs - centre) ** 2, axis=1) / (2 * width**2))
    return out


def random_mlp(
    rng: np.random.Generator, input_size: int, hidden: tuple[int, ...], activation: str, uv_frequencies: int
) -> PixelMlp:
    """float32 random MLP (hidden widths `hidden`, RGB out), initialised as calibrated_mlp starts out but
    not calibrated; for tests of MLP packing and shapes."""
    weights, biases = _random_layers(rng, [input_size, *hidden, 3], np.ones(input_size))
    return PixelMlp(tuple(np.asarray(w, np.float32) for w in weights), tuple(np.asarray(b, np.float32) for b in biases),
                    activation, uv_frequencies)


def _random_layers(
    rng: np.random.Generator, sizes: list[int], input_gain: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """float64 (weights, biases) per layer, drawn layer by layer: weights N(0, (1.6 / sqrt(fan in))^2), the
    first layer's columns scaled by `input_gain`; hidden biases N(0.1, 0.1^2), the last bias zero."""
    weights, biases = [], []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.standard_normal((n_out, n_in)) * (1.6 / np.sqrt(n_in))
        if i == 0:
            w *= input_gain
        weights.append(w)
        biases.append(rng.normal(0.1, 0.1, n_out) if i < len(sizes) - 2 else np.zeros(n_out))
    return weights, biases


def calibrated_mlp(rng: np.random.Generator, base: np.ndarray, hidden: tuple[int, ...], activation: str,
                   freqs: int) -> PixelMlp:
    """Random MLP whose last layer is rescaled so each RGB channel spans a seeded sub-range of RGB_RANGE over
    the head's texels (features `base` [C, H, W]) seen from many directions."""
    channels = base.shape[0]
    column_gain = np.concatenate([np.ones(channels), np.full(3, 0.4), np.full(4 * freqs, 0.3)])
    weights, biases = _random_layers(rng, [channels + 3 + 4 * freqs, *hidden, 3], column_gain)
    mlp = PixelMlp(tuple(weights), tuple(biases), activation, freqs)
    info = FeatureMapInfo(channels, base.shape[1], base.shape[2])
    uv, dirs = texel_directions(info)
    views = dirs + rng.uniform(-0.6, 0.6, dirs.shape)
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    feats = base.reshape(channels, -1).T
    x = np.concatenate([mlp_input(feats, views, uv, freqs), mlp_input(feats, np.tile([0.0, 0.0, 1.0], (len(uv), 1)),
                                                                      uv, freqs)])
    logits = mlp_logits(mlp, x)
    lo_z, hi_z = logits.min(axis=0), logits.max(axis=0)
    mid = rng.uniform(0.38, 0.66, 3)
    half = rng.uniform(0.2, 0.26, 3)
    target_lo = _logit(np.maximum(mid - half, RGB_RANGE[0] + 0.01))
    target_hi = _logit(np.minimum(mid + half, RGB_RANGE[1] - 0.01))
    flip = rng.random(3) < 0.5
    target_lo, target_hi = np.where(flip, target_hi, target_lo), np.where(flip, target_lo, target_hi)
    scale = (target_hi - target_lo) / np.maximum(hi_z - lo_z, 1e-6)
    weights[-1] = weights[-1] * scale[:, None]
    biases[-1] = (biases[-1] - lo_z) * scale + target_lo
    return PixelMlp(tuple(np.asarray(w, np.float32) for w in weights), tuple(np.asarray(b, np.float32) for b in biases),
                    activation, freqs)


def _logit(p: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.log(p / (1 - p))
    return out
