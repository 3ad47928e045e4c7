"""A procedural head-sized mesh for synthetic avatars: a UV-sphere ellipsoid with a small nose bump,
poles merged, the UV seam at the back of the head (render vertices split there), CCW outward winding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.assets.package import MeshTopology

HEAD_RADII_M = (0.09, 0.12, 0.10)
"""Ellipsoid radii x (ear to ear), y (chin to crown), z (back to face), metres."""
NOSE_HEIGHT = 0.12
"""Nose bump as a fraction of the radius at the front (about 1.2 cm)."""


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
