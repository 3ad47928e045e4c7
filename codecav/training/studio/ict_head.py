"""The capture studio's second head source: the ICT-FaceKit rig (MIT) wearing Lee Perry-Smith's scanned skin
(CC BY 3.0), as a studio HeadModel plus identity record, trimmed so a trained avatar of it fits a shipped
package.

Identities: identity 0 is the rig's generic neutral shape (the shape the scan was fitted to, `scan_skin`);
identity N > 0 mixes the rig's identity modes with weights drawn from (N, seed). Every ICT identity wears the
same scanned skin (Lee Perry-Smith's colour detail, specular and relief); identities N > 0 have it recoloured to
one of SKIN_TONES (`scan_skin.tinted`), so the face *shape* and the skin's overall colour vary, its detail does not.

Trim (`capture_model`): the avatar decoder stores a 64 x 3V geometry matrix, so each vertex that moves with
expressions costs about 0.7 MB per 1,000 in a package (static rows train to zeros and compress away). The
eyelash strips (never drawn without an alpha texture), the back molars (hidden behind the front teeth
and cheeks) and the eyeballs' inner shells (hidden inside the outer ones, `OUTER_SHELL_ONLY`) are dropped, and the
gums and tongue and the mouth socket, which the rig models at dental
resolution, are coarsened by vertex clustering (`INTERIOR_CELL_M`); the skin, eye sockets, eyeballs and front
teeth keep the rig's full resolution. The result: 19,208 vertices instead of 26,014, 14,560 of which move
(18,986 in the converted rig), and 38,268 triangles instead of 51,158 (both counts with the neck's extension and
cap, `ict_rig.close_neck`). Samples built before session 10 kept the inner shells (20,753 vertices); lee's
session-10 package had neither extension nor cap (19,153), lee-shape1's session-11 package the cap only (19,154)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from codecav.assets.package import MeshTopology
from codecav.training.studio.head_model import HeadModel
from codecav.training.studio.ict_rig import IctFaceModel, load_ict_face_model, to_head_model

__all__ = ["INTERIOR_CELL_M", "IDENTITY_SIGMA", "SKIN_TONES", "IctIdentity", "capture_model", "ict_head_model",
           "ict_identity"]

INTERIOR_CELL_M: dict[str, float] = {"gums_tongue": 0.003, "mouth_socket": 0.004}
"""Vertex-clustering cell (metres) per mouth-interior part; parts not named keep every vertex."""

BEHIND_Z_M: dict[str, float] = {"teeth": 0.05}
"""Vertices of these parts deeper than this z (metres; the lips are at about 0.1) are removed: the back
molars, which no studio camera sees past the front teeth and cheeks."""

DROPPED_PARTS = ("eyelashes",)
"""Parts left out of the capture head."""

OUTER_SHELL_ONLY = ("eyeball_left", "eyeball_right")
"""Parts made of nested shells of which the capture head keeps only the outer one (the connected piece reaching
furthest forward). ICT's eyeball is an outer shell (sclera and cornea) around an inner eyeball; drawn opaque, the
inner one never shows (no pixel of any view or gaze changes without it), but it shares the outer shell's UV
island, so the unwrap pass wrote its colour, the iris it sits behind, over the sclera's texels."""

IDENTITY_SIGMA = 0.8
"""Standard deviation of the identity-mode weights of identities N > 0 (ICT's modes are ~N(0, 1))."""

SKIN_TONES: tuple[tuple[float, float, float], ...] = (
    (0.55, 0.38, 0.28), (0.70, 0.52, 0.40), (0.40, 0.27, 0.20), (0.86, 0.70, 0.62),
)
"""sRGB medians the skin of identities 1, 2, 3, ... is recoloured to, in turn (the scan's own face median is about
(0.77, 0.60, 0.55)): varied colour on the one real skin, said so in each identity's `skin`."""

IDENTITY_MODES = 20
"""Identity modes mixed (all the converted rig holds)."""


@dataclass(frozen=True)
class IctIdentity:
    """An ICT studio identity: a face shape from the rig's identity modes, always in the scanned skin."""

    index: int
    """Identity index."""
    name: str
    """'lee' for identity 0 (the neutral the scan was fitted to), 'lee-shape<N>' for the others."""
    seed: int
    """Seed mixed into the identity-mode weights (identity 0 ignores it)."""
    head: str
    """Head source: always 'ict'."""
    identity_weights: tuple[float, ...]
    """Weights of the rig's identity modes (all 0 for identity 0)."""
    skin: str
    """Where the skin comes from (the same scan for every ICT identity) and how its colour was varied."""
    skin_tone: tuple[float, float, float] | None = None
    """sRGB median the skin is recoloured to (`scan_skin.tinted`), or None for the scan's own colour."""


def ict_identity(index: int, seed: int = 0) -> IctIdentity:
    """The ICT identity `index`: the rig's neutral for 0, else identity-mode weights ~ N(0, IDENTITY_SIGMA)."""
    if index < 0:
        raise ValueError(f"identity index must be >= 0, got {index}")
    scan = "Lee Perry-Smith's 'Infinite' head scan (CC BY 3.0), the same for every ICT identity"
    if index == 0:
        return IctIdentity(index=0, name="lee", seed=seed, head="ict",
                           identity_weights=tuple(0.0 for _ in range(IDENTITY_MODES)), skin=f"{scan}, its own colour")
    weights = np.random.default_rng([index, seed, 17]).normal(0.0, IDENTITY_SIGMA, IDENTITY_MODES)
    tone = SKIN_TONES[(index - 1) % len(SKIN_TONES)]
    return IctIdentity(
        index=index, name=f"lee-shape{index}", seed=seed, head="ict",
        identity_weights=tuple(round(float(w), 5) for w in weights),
        skin=f"{scan}, recoloured to the median sRGB {tone} (one gain per channel; its detail is the scan's)",
        skin_tone=tone,
    )


def connected_pieces(faces: np.ndarray) -> np.ndarray:
    """int64 [F]: for each triangle of `faces` [F, 3] (vertex indices), a label shared by the triangles connected
    to it through shared vertices (the label is one of the piece's vertex indices)."""
    parent = np.arange(int(faces.max()) + 1 if len(faces) else 0, dtype=np.int64)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for a, b, c in faces:
        for u, v in ((a, b), (b, c)):
            ru, rv = root(int(u)), root(int(v))
            if ru != rv:
                parent[ru] = rv
    return np.array([root(int(v)) for v in faces[:, 0]], dtype=np.int64)


def inner_shell_vertices(model: IctFaceModel, name: str) -> np.ndarray:
    """Vertex indices of part `name`'s pieces other than the one reaching furthest forward (+z)."""
    geo = np.asarray(model.mesh.vertex_index, np.int64)[np.asarray(model.mesh.faces, np.int64)]
    part_faces = geo[model.face_part == model.part_names.index(name)]
    if len(part_faces) == 0:
        return np.zeros(0, np.int64)
    labels = connected_pieces(part_faces)
    pieces = np.unique(labels)
    front = [model.positions[part_faces[labels == piece].ravel(), 2].max() for piece in pieces]
    outer = pieces[int(np.argmax(front))]
    return np.setdiff1d(np.unique(part_faces[labels != outer]), np.unique(part_faces[labels == outer]))


def _cluster(model: IctFaceModel, cells: dict[str, float], dropped: tuple[str, ...],
             behind: dict[str, float], outer_only: tuple[str, ...] = ()) -> np.ndarray:
    """int64 [V] the cluster of each vertex (a vertex index naming the cluster; a vertex alone is its own);
    -1 for vertices of dropped parts, of the inner shells of `outer_only` parts and those of `behind` parts deeper
    than their z limit."""
    rep = np.arange(model.num_vertices, dtype=np.int64)
    for name in dropped:
        rep[model.part_mask(name)] = -1
    for name in outer_only:
        rep[inner_shell_vertices(model, name)] = -1
    for name, z in behind.items():
        rep[model.part_mask(name) & (model.positions[:, 2] < z)] = -1
    for name, cell in cells.items():
        ids = np.flatnonzero(model.part_mask(name) & (rep >= 0))
        keys = np.floor(model.positions[ids] / cell).astype(np.int64)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        rep[ids] = ids[first[inverse.ravel()]]
    return rep


def _cluster_mean(values: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """float32 [..., count, 3]: `values` [..., V, 3] averaged over the vertices of each group (groups [V])."""
    total = np.zeros((*values.shape[:-2], count, 3), np.float64)
    np.add.at(total, (..., groups, slice(None)), values)  # type: ignore[arg-type]
    sizes = np.bincount(groups, minlength=count).astype(np.float64)
    return (total / sizes[:, None]).astype(np.float32)


def capture_model(model: IctFaceModel, cells: dict[str, float] | None = None,
                  dropped: tuple[str, ...] = DROPPED_PARTS, behind: dict[str, float] | None = None,
                  outer_only: tuple[str, ...] = OUTER_SHELL_ONLY) -> IctFaceModel:
    """The rig with `dropped` parts and the inner shells of `outer_only` parts removed, the vertices of `behind`
    parts deeper than their z limit removed (with their triangles), and the parts in `cells` coarsened by vertex
    clustering (a cluster takes the mean position, expression deltas and identity modes of its vertices);
    collapsed triangles are removed, render vertices keep their UVs, vertices no triangle uses are removed."""
    cells = INTERIOR_CELL_M if cells is None else cells
    behind = BEHIND_Z_M if behind is None else behind
    rep = _cluster(model, cells, dropped, behind, outer_only)
    faces = np.asarray(model.mesh.faces, np.int64)
    vindex = np.asarray(model.mesh.vertex_index, np.int64)
    geo = rep[vindex[faces]]  # [F, 3] cluster per corner
    keep = (geo >= 0).all(axis=1) & (geo[:, 0] != geo[:, 1]) & (geo[:, 1] != geo[:, 2]) & (geo[:, 0] != geo[:, 2])
    if dropped:
        keep &= ~np.isin(model.face_part, [model.part_names.index(n) for n in dropped])
    faces, geo = faces[keep], geo[keep]
    used_geo = np.unique(geo)
    new_geo = np.full(model.num_vertices, -1, np.int64)
    new_geo[used_geo] = np.arange(len(used_geo))
    members = np.flatnonzero((rep >= 0) & (new_geo[np.maximum(rep, 0)] >= 0))
    groups = new_geo[rep[members]]
    count = len(used_geo)
    used_render = np.unique(faces)
    new_render = np.full(len(vindex), -1, np.int64)
    new_render[used_render] = np.arange(len(used_render))
    mesh = MeshTopology(
        faces=new_render[faces].astype(np.int32),
        uv=np.ascontiguousarray(np.asarray(model.mesh.uv)[used_render], np.float32),
        vertex_index=new_geo[rep[vindex[used_render]]].astype(np.int32),
    )
    landmarks = new_geo[np.maximum(rep[np.asarray(model.landmarks, np.int64)], 0)]
    return replace(
        model,
        positions=_cluster_mean(model.positions[members], groups, count),
        mesh=mesh,
        vertex_part=np.ascontiguousarray(model.vertex_part[used_geo]),
        face_part=np.ascontiguousarray(model.face_part[keep]),
        landmarks=np.where(landmarks >= 0, landmarks, 0).astype(np.int32),
        channel_deltas=_cluster_mean(model.channel_deltas[:, members], groups, count),
        identity_modes=_cluster_mean(model.identity_modes[:, members], groups, count),
    )


@lru_cache(maxsize=1)
def _capture_rig() -> IctFaceModel:
    return capture_model(load_ict_face_model())


def ict_head_model(identity: IctIdentity) -> HeadModel:
    """The studio HeadModel of `identity`: the trimmed rig (`capture_model`) in the identity's shape."""
    rig = _capture_rig()
    weights = np.asarray(identity.identity_weights, np.float32)[: len(rig.identity_modes)]
    return to_head_model(rig, weights if weights.any() else None)


ICT_NOTE = ("ICT-FaceKit rig (MIT; generic neutral shape, light-stage expressions) wearing Lee Perry-Smith's scanned "
            "skin (CC BY 3.0); eyes, teeth, mouth interior, back of head and the lighting are synthetic; renders, not "
            "photographs; not a likeness of Lee Perry-Smith beyond his skin")
"""What a package trained on an ICT capture is (its provenance note)."""
ICT_ATTRIBUTION = ('"Infinite, 3D Head Scan" by Lee Perry-Smith, CC BY 3.0 '
                   "(https://creativecommons.org/licenses/by/3.0/), based on a work at www.triplegangers.com; "
                   "ICT-FaceKit, Copyright (c) 2020 USC Institute for Creative Technologies, MIT licence")
"""The attribution its licences require (provenance attribution)."""
