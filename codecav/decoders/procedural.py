"""A procedural avatar built from the package dataclasses with NumPy: UV-mapped ellipsoid, smooth random
feature maps, random MLP. For tests and benchmarks of the renderers; no ONNX, no trained weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp
from codecav.decoders.base import DecodedFrame


@dataclass(frozen=True)
class ProceduralAvatar:
    """Everything a renderer needs for one avatar, plus one decoded frame."""

    mesh: MeshTopology
    """Ellipsoid with a UV seam at u = 0/1 (render vertices split there)."""
    mlp: PixelMlp
    """Random per-pixel MLP."""
    feature_info: FeatureMapInfo
    """Feature-map shape."""
    frame: DecodedFrame
    """Geometry [V, 3] of the ellipsoid and a smooth random feature map."""


def ellipsoid(
    radii: tuple[float, float, float] = (0.08, 0.11, 0.09), rings: int = 16, segments: int = 24
) -> tuple[MeshTopology, np.ndarray]:
    """(topology, geometry [V, 3]) of a UV-sphere ellipsoid: u = longitude / 2pi (seam at the back), v = latitude
    (0 at the bottom pole); faces CCW seen from outside; the u = 1 column duplicates u = 0 as render vertices."""
    lat = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)
    lon = np.linspace(0.0, 2 * np.pi, segments + 1)
    grid_lon, grid_lat = np.meshgrid(lon, lat)  # [rings + 1, segments + 1]
    # Longitude 0 (the UV seam) is at the back of the head (-z), u = 0.5 looks along +z (the face).
    xyz = np.stack(
        [-np.cos(grid_lat) * np.sin(grid_lon), np.sin(grid_lat), -np.cos(grid_lat) * np.cos(grid_lon)], axis=-1
    ) * np.asarray(radii)
    uv = np.stack([grid_lon / (2 * np.pi), (grid_lat + np.pi / 2) / np.pi], axis=-1)
    render_ids = np.arange((rings + 1) * (segments + 1)).reshape(rings + 1, segments + 1)
    geometry_ids = render_ids.copy()
    geometry_ids[:, segments] = geometry_ids[:, 0]  # seam column shares geometry with column 0
    _, vertex_index = np.unique(geometry_ids.ravel(), return_inverse=True)
    geometry = np.zeros((int(vertex_index.max()) + 1, 3))
    geometry[vertex_index] = xyz.reshape(-1, 3)
    faces = []
    for r in range(rings):
        for s in range(segments):
            a, b = render_ids[r, s], render_ids[r, s + 1]
            c, d = render_ids[r + 1, s], render_ids[r + 1, s + 1]
            if r > 0:
                faces.append((a, b, d))  # ccw from outside: lon grows to the right of +z, lat upwards
            if r < rings - 1:
                faces.append((a, d, c))
    topology = MeshTopology(
        faces=np.asarray(faces, dtype=np.int32),
        uv=uv.reshape(-1, 2).astype(np.float32),
        vertex_index=vertex_index.astype(np.int32),
    )
    return topology, geometry.astype(np.float32)


def smooth_features(rng: np.random.Generator, info: FeatureMapInfo, amplitude: float = 1.0) -> np.ndarray:
    """float32 [H, W, C] random low-frequency feature map (a few sinusoids per channel)."""
    v, u = np.meshgrid((np.arange(info.height) + 0.5) / info.height, (np.arange(info.width) + 0.5) / info.width,
                       indexing="ij")
    out = np.zeros((info.height, info.width, info.channels))
    for ch in range(info.channels):
        for _ in range(3):
            fu, fv = rng.integers(1, 4, size=2)
            phase = rng.uniform(0, 2 * np.pi)
            out[..., ch] += np.sin(2 * np.pi * (fu * u + fv * v) + phase) / 3
    return (amplitude * out).astype(np.float32)


def random_mlp(
    rng: np.random.Generator, input_size: int, hidden: tuple[int, ...], activation: str, uv_frequencies: int
) -> PixelMlp:
    """Random MLP (hidden widths `hidden`, RGB out) with weights scaled to keep activations O(1)."""
    sizes = [input_size, *hidden, 3]
    pairs = zip(sizes[:-1], sizes[1:], strict=True)
    weights = tuple((rng.standard_normal((o, i)) * (1.5 / np.sqrt(i))).astype(np.float32) for i, o in pairs)
    biases = tuple((rng.standard_normal(o) * 0.3).astype(np.float32) for o in sizes[1:])
    return PixelMlp(weights, biases, activation, uv_frequencies)


def procedural_avatar(
    seed: int = 0,
    *,
    channels: int = 8,
    feature_size: int = 64,
    hidden: tuple[int, ...] = (16, 16),
    activation: str = "relu",
    uv_frequencies: int = 2,
    rings: int = 16,
    segments: int = 24,
) -> ProceduralAvatar:
    """A reproducible random avatar (see module docstring)."""
    rng = np.random.default_rng(seed)
    mesh, geometry = ellipsoid(rings=rings, segments=segments)
    info = FeatureMapInfo(channels, feature_size, feature_size)
    mlp = random_mlp(rng, channels + 3 + 4 * uv_frequencies, hidden, activation, uv_frequencies)
    frame = DecodedFrame(geometry, smooth_features(rng, info))
    return ProceduralAvatar(mesh, mlp, info, frame)
