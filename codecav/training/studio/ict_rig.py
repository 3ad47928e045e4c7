"""ICT-FaceKit's face rig (MIT, USC ICT Vision and Graphics Lab) as NumPy arrays: a neutral head with eyes,
teeth, gums and lashes, 57 expression shapes and the first identity modes, posed by ARKit-52 weights.

The arrays come from `scripts/convert_face_sources.py` (see `data/README.md`); nothing here reads ICT's
own files. Head space is the studio's: metres, +y up, +z out of the face, +x the avatar's left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.assets.package import MeshTopology
from codecav.training.studio.errors import StudioDataError
from codecav.training.studio.head_model import REGIONS, HeadModel, boundary_edges

__all__ = [
    "ARKIT_TO_ICT", "ICT_EXTRA_CHANNELS", "IctFaceModel", "boundary_loops", "close_neck", "ict_channel_weights",
    "load_ict_face_model", "to_head_model",
]

MM_TO_M = 0.001

NECK_CAP_UV_CENTRE = (0.9375, 0.1)
"""Centre of the neck cap's UV island: the atlas corner scripts/convert_face_sources.py leaves empty (u 0.875-1,
v 0-0.2)."""
NECK_CAP_UV_RADIUS = 0.055
"""Radius of that island: its disc and a 6-texel gutter at 256^2 stay clear of every drawn part."""
NECK_TUBE_UV_INNER_RADIUS = 0.03
"""The island's ring from here out to NECK_CAP_UV_RADIUS holds the neck's extension; the disc inside, the cap."""
NECK_EXTENSION_M = 0.08
"""How far the neck is carried down below ICT's cut before the cap closes it: far enough that no camera of the
studio's rig (codecav.training.studio.rig) has the cap in its frame (0.06 m already is, for the default rig)."""


_DIRECTIONS = ("jawLeft", "jawRight", "mouthLeft", "mouthRight")
"""ARKit names whose Left/Right is a direction of motion, not a side; ICT spells them the same."""


def _arkit_to_ict() -> dict[str, tuple[tuple[str, float], ...]]:
    """ARKit name -> ICT channels and their weights. ICT names a side `_L`/`_R` (the avatar's left is `_L`,
    +x, the same side as ARKit's `Left`); `browInnerUp` and `cheekPuff` are split in ICT, so both halves
    follow the one ARKit weight; ICT has no `tongueOut`."""
    table: dict[str, tuple[tuple[str, float], ...]] = {}
    for name in ARKIT_52:
        if name in _DIRECTIONS:
            table[name] = ((name, 1.0),)
        elif name == "tongueOut":
            table[name] = ()
        elif name in ("browInnerUp", "cheekPuff"):
            table[name] = ((f"{name}_L", 1.0), (f"{name}_R", 1.0))
        elif name.endswith("Left"):
            table[name] = ((name[: -len("Left")] + "_L", 1.0),)
        elif name.endswith("Right"):
            table[name] = ((name[: -len("Right")] + "_R", 1.0),)
        else:
            table[name] = ((name, 1.0),)
    return table


ARKIT_TO_ICT: dict[str, tuple[tuple[str, float], ...]] = _arkit_to_ict()
"""Every ARKit-52 name -> the ICT expression channels it drives (empty for `tongueOut`)."""

ICT_EXTRA_CHANNELS: tuple[str, ...] = ("PupilDilate_L", "PupilDilate_R", "cheekRaiser_L", "cheekRaiser_R")
"""ICT channels no ARKit name drives; reachable through `extra` weights."""

PART_REGION: dict[str, str] = {
    "face": "skin", "head_neck": "skin", "eye_socket": "skin", "eyelashes": "skin",
    "mouth_socket": "mouth_interior", "gums_tongue": "tongue", "teeth": "teeth",
    "eyeball_left": "eyes", "eyeball_right": "eyes",
}
"""ICT part -> the studio's coarser region (codecav.training.studio.head_model.REGIONS)."""


@dataclass(frozen=True)
class IctFaceModel:
    """The ICT neutral head, its expression channels and identity modes, in head space (metres)."""

    positions: np.ndarray
    """float32 [V, 3] neutral geometry."""
    mesh: MeshTopology
    """Triangles over render vertices (split at UV seams) with the studio atlas UVs."""
    vertex_part: np.ndarray
    """uint8 [V] index into `part_names` of each vertex (by ICT's vertex ranges)."""
    face_part: np.ndarray
    """uint8 [F] index into `part_names` of each triangle (by ICT's polygon ranges; meshes share border
    vertices, so a head_neck triangle may use face vertices)."""
    part_names: tuple[str, ...]
    """face, head_neck, mouth_socket, eye_socket, gums_tongue, teeth, eyeball_left, eyelashes, eyeball_right."""
    landmarks: np.ndarray
    """int32 [68] vertices of the Multi-PIE 68-point landmarks (ICT's list)."""
    channel_names: tuple[str, ...]
    """ICT expression channels (57), alphabetical."""
    channel_deltas: np.ndarray
    """float32 [C, V, 3] offset of each channel at weight 1."""
    identity_modes: np.ndarray
    """float32 [K, V, 3] identity modes (ICT's first K PCA modes; weights ~ N(0, 1))."""

    @property
    def num_vertices(self) -> int:
        """Geometry vertices V."""
        return int(self.positions.shape[0])

    def part_mask(self, *names: str) -> np.ndarray:
        """bool [V]: vertices in any of the parts `names` (ValueError naming the known parts)."""
        unknown = [n for n in names if n not in self.part_names]
        if unknown:
            raise ValueError(f"unknown ICT part {unknown[0]!r}; known: {', '.join(self.part_names)}")
        return np.isin(self.vertex_part, [self.part_names.index(n) for n in names])

    def shape(self, identity: np.ndarray | None = None) -> np.ndarray:
        """float32 [V, 3] neutral positions of the identity with mode weights `identity` [<= K]."""
        if identity is None:
            return self.positions.copy()
        w = np.asarray(identity, dtype=np.float32).ravel()
        if len(w) > len(self.identity_modes):
            raise ValueError(f"{len(w)} identity weights given, the rig has {len(self.identity_modes)} modes")
        return (self.positions + np.tensordot(w, self.identity_modes[: len(w)], axes=1)).astype(np.float32)

    def posed(
        self, arkit: np.ndarray, identity: np.ndarray | None = None, extra: dict[str, float] | None = None
    ) -> np.ndarray:
        """float32 [V, 3]: the identity's neutral plus ARKit-52 `arkit` [52] weights mapped to ICT channels
        (and `extra` ICT channel weights by name)."""
        w = ict_channel_weights(arkit, self.channel_names, extra)
        base = self.shape(identity)
        active = np.nonzero(w)[0]
        if active.size == 0:
            return base
        return (base + np.tensordot(w[active], self.channel_deltas[active], axes=1)).astype(np.float32)


def ict_channel_weights(
    arkit: np.ndarray, channel_names: tuple[str, ...], extra: dict[str, float] | None = None
) -> np.ndarray:
    """float32 [C] ICT channel weights for ARKit-52 weights [52] plus `extra` ICT weights by name."""
    a = np.asarray(arkit, dtype=np.float32)
    if a.shape != (len(ARKIT_52),):
        raise ValueError(f"ARKit weights must have shape ({len(ARKIT_52)},), got {a.shape}")
    index = {name: i for i, name in enumerate(channel_names)}
    out = np.zeros(len(channel_names), dtype=np.float32)
    for name, targets in ARKIT_TO_ICT.items():
        for channel, scale in targets:
            out[index[channel]] += scale * a[ARKIT_INDEX[name]]
    for channel, value in (extra or {}).items():
        if channel not in index:
            raise ValueError(f"unknown ICT channel {channel!r}; extras: {', '.join(ICT_EXTRA_CHANNELS)}")
        out[index[channel]] += value
    return out


def data_dir() -> Path:
    """The folder of converted face data inside the package."""
    return Path(str(resources.files("codecav.training.studio") / "data"))


@lru_cache(maxsize=2)
def load_ict_face_model(identities: int | None = None, path: Path | None = None) -> IctFaceModel:
    """The rig from `data/ict/ict_face.npz` (~0.5 s; cached), with at most `identities` identity modes."""
    file = (data_dir() / "ict" / "ict_face.npz") if path is None else Path(path)
    if not file.is_file():
        raise StudioDataError(f"{file} is missing; run scripts/convert_face_sources.py (see data/README.md)")
    with np.load(file) as z:
        positions = z["positions"]
        names = tuple(str(n) for n in z["expression_names"])
        offsets, index, delta = z["expression_offsets"], z["expression_index"], z["expression_delta_mm"]
        deltas = np.zeros((len(names), len(positions), 3), dtype=np.float32)
        for c in range(len(names)):
            rows = index[offsets[c]: offsets[c + 1]].astype(np.int64)
            deltas[c, rows] = delta[offsets[c]: offsets[c + 1]].astype(np.float32) * MM_TO_M
        modes = z["identity_delta_mm"][:identities].astype(np.float32) * MM_TO_M
        return close_neck(IctFaceModel(
            positions=positions,
            mesh=MeshTopology(faces=z["faces"], uv=z["uv"], vertex_index=z["vertex_index"]),
            vertex_part=z["vertex_part"],
            face_part=z["face_part"],
            part_names=tuple(str(n) for n in z["part_names"]),
            landmarks=z["landmarks"],
            channel_names=names,
            channel_deltas=deltas,
            identity_modes=modes,
        ))


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The open borders of the triangle mesh `faces` [F, 3] (geometry vertex ids), each an int64 array of vertices
    in walking order."""
    neighbours: dict[int, list[int]] = {}
    for a, b in boundary_edges(faces).tolist():
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    loops, seen = [], set()
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, previous, vertex = [start], -1, start
        seen.add(start)
        while True:
            following = [n for n in neighbours[vertex] if n != previous and n not in seen]
            if not following:
                break
            previous, vertex = vertex, following[0]
            seen.add(vertex)
            loop.append(vertex)
        loops.append(np.asarray(loop, np.int64))
    return loops


def _wound_towards(triangles: np.ndarray, points: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """`triangles` [F, 3] (ids into `points`), their winding reversed when their normals point away from `towards`
    ([3], or [F, 3] per triangle) on the whole."""
    corners = points[triangles]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return triangles if (normals * towards).sum() >= 0 else triangles[:, [1, 0, 2]]


def close_neck(model: IctFaceModel) -> IctFaceModel:
    """`model` with the open bottom of its neck carried NECK_EXTENSION_M straight down as a tube and closed there by
    a cap facing down. New geometry: a copy of the cut's border lowered by NECK_EXTENSION_M and one vertex at its
    centre (their expression and identity offsets the border's own and the border's mean), all head_neck. The
    tube and the cap are drawn over render vertices of their own on a disc in the atlas's empty corner
    (NECK_CAP_UV_*): the tube on the ring between NECK_CAP_UV_RADIUS and NECK_TUBE_UV_INNER_RADIUS, the cap inside.
    Without the cap a camera below the head looks into the neck, whose inside shares the outside's texels; without
    the tube the rig's low cameras see the cap only edge-on, where no training camera can teach an avatar its
    colour. Lowered out of every camera's frame, the cap is seen by none. Unchanged when the neck has no open
    border."""
    neck = model.part_names.index("head_neck")
    geo = np.asarray(model.mesh.vertex_index, np.int64)[np.asarray(model.mesh.faces, np.int64)]
    loops = [loop for loop in boundary_loops(geo) if len(loop) > 2 and (model.vertex_part[loop] == neck).all()]
    if not loops:
        return model
    loop = min(loops, key=lambda ring: float(model.positions[ring, 1].mean()))  # the lowest: the neck's cut
    n = len(loop)
    ring = model.positions[loop].astype(np.float64)
    centre = ring.mean(axis=0)
    _, _, axes = np.linalg.svd(ring - centre)
    flat = (ring - centre) @ axes[:2].T
    flat /= np.linalg.norm(flat, axis=1).max()
    outer = np.asarray(NECK_CAP_UV_CENTRE) + flat * NECK_CAP_UV_RADIUS
    inner = np.asarray(NECK_CAP_UV_CENTRE) + flat * NECK_TUBE_UV_INNER_RADIUS
    drop = np.array([0.0, NECK_EXTENSION_M, 0.0])
    count, first_render = model.num_vertices, len(model.mesh.uv)
    # Render vertices: the border on the outer circle [0, n), the lowered border on the inner one [n, 2n), the
    # cap's centre 2n. Geometry: the lowered border is count + [0, n), the centre count + n.
    here, following = np.arange(n), np.roll(np.arange(n), -1)
    tube = np.concatenate([np.stack([here, following, n + following], axis=1),
                           np.stack([here, n + following, n + here], axis=1)])
    fan = np.stack([n + here, n + following, np.full(n, 2 * n)], axis=1)
    points = np.vstack([ring, ring - drop, centre - drop])
    outward = points[tube].mean(axis=1) - (centre - drop / 2)
    outward[:, 1] = 0.0
    # Counter-clockwise seen from outside, like the rest of the mesh: the tube from the side, the cap from below.
    faces = np.concatenate([_wound_towards(tube, points, outward), _wound_towards(fan, points, np.array([0.0, -1, 0]))])
    mesh = MeshTopology(
        faces=np.concatenate([model.mesh.faces, (faces + first_render).astype(np.int32)]),
        uv=np.concatenate([model.mesh.uv, outer.astype(np.float32), inner.astype(np.float32),
                           np.array([NECK_CAP_UV_CENTRE], np.float32)]),
        vertex_index=np.concatenate([model.mesh.vertex_index, loop.astype(np.int32),
                                     count + np.arange(n + 1, dtype=np.int32)]),
    )

    def extended(values: np.ndarray, lowered: np.ndarray | None = None) -> np.ndarray:
        """[..., V, 3] -> [..., V + n + 1, 3]: the border's values again, then their mean (plus `lowered`)."""
        border = values[..., loop, :]
        new = np.concatenate([border, border.mean(axis=-2, keepdims=True)], axis=-2)
        return np.concatenate([values, new if lowered is None else new - lowered], axis=-2).astype(np.float32)

    return replace(
        model,
        positions=extended(model.positions, drop),
        mesh=mesh,
        vertex_part=np.append(model.vertex_part, np.full(n + 1, neck, model.vertex_part.dtype)),
        face_part=np.concatenate([model.face_part, np.full(len(faces), neck, model.face_part.dtype)]),
        channel_deltas=extended(model.channel_deltas),
        identity_modes=extended(model.identity_modes),
    )


def to_head_model(
    model: IctFaceModel, identity: np.ndarray | None = None, eyelashes: bool = False
) -> HeadModel:
    """A studio HeadModel of the ICT rig (one identity), so capture code written for the MakeHuman head can
    pose it: ARKit-52 blendshapes resolved to ICT channels, parts folded into the studio's REGIONS. The
    eyelash strips are left out unless `eyelashes` (without an alpha texture they draw as black bands)."""
    blendshapes = np.zeros((len(ARKIT_52), model.num_vertices, 3), dtype=np.float32)
    index = {name: i for i, name in enumerate(model.channel_names)}
    for name, targets in ARKIT_TO_ICT.items():
        for channel, scale in targets:
            blendshapes[ARKIT_INDEX[name]] += scale * model.channel_deltas[index[channel]]
    region_of_part = np.array([REGIONS.index(PART_REGION[p]) for p in model.part_names], dtype=np.uint8)
    keep = np.ones(len(model.face_part), dtype=bool)
    if not eyelashes:
        keep = model.face_part != model.part_names.index("eyelashes")
    positions = model.shape(identity)
    eye_centres = np.zeros((2, 3), dtype=np.float32)
    for side, part in enumerate(("eyeball_left", "eyeball_right")):
        ids = model.part_mask(part)
        eye_centres[side] = (positions[ids].min(axis=0) + positions[ids].max(axis=0)) / 2
    return HeadModel(
        positions=positions,
        mesh=MeshTopology(faces=model.mesh.faces[keep], uv=model.mesh.uv, vertex_index=model.mesh.vertex_index),
        source_uv=model.mesh.uv,
        source_index=np.arange(model.num_vertices, dtype=np.int32),
        vertex_region=region_of_part[model.vertex_part],
        face_region=region_of_part[model.face_part[keep]],
        blendshapes=blendshapes,
        eye_centres=eye_centres,
    )
