"""The ICT rig: data as converted, ARKit mapping, posing."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.training.studio.head_model import REGIONS
from codecav.training.studio.ict_rig import (
    ARKIT_TO_ICT,
    ICT_EXTRA_CHANNELS,
    NECK_CAP_UV_CENTRE,
    NECK_CAP_UV_RADIUS,
    NECK_EXTENSION_M,
    NECK_TUBE_UV_INNER_RADIUS,
    IctFaceModel,
    boundary_loops,
    ict_channel_weights,
    load_ict_face_model,
    to_head_model,
)
from codecav.training.studio.rig import make_rig


@pytest.fixture(scope="module")
def rig() -> IctFaceModel:
    return load_ict_face_model()


def _weights(**named: float) -> np.ndarray:
    w = np.zeros(len(ARKIT_52), np.float32)
    for name, value in named.items():
        w[ARKIT_INDEX[name]] = value
    return w


def test_converted_arrays_are_consistent(rig: IctFaceModel) -> None:
    v = rig.num_vertices
    assert v == 25959 + 54 + 1 and rig.positions.dtype == np.float32  # converted, the lowered neck border, the cap
    assert rig.mesh.faces.max() < len(rig.mesh.uv) and rig.mesh.vertex_index.max() == v - 1
    assert len(rig.face_part) == len(rig.mesh.faces)
    assert ((rig.mesh.uv >= 0) & (rig.mesh.uv <= 1)).all()
    assert len(rig.channel_names) == 57 and rig.channel_deltas.shape == (57, v, 3)
    assert rig.identity_modes.shape == (20, v, 3)
    # Head space: metres, eyes near y = 0, nose tip in front (+z), face about 0.2 m tall.
    nose, chin = rig.positions[rig.landmarks[30]], rig.positions[rig.landmarks[8]]
    assert nose[2] > 0.09 and abs(nose[0]) < 1e-3 and 0.05 < nose[1] - chin[1] < 0.12


def test_every_arkit_name_is_mapped_to_existing_channels(rig: IctFaceModel) -> None:
    assert set(ARKIT_TO_ICT) == set(ARKIT_52)
    mapped = {channel for targets in ARKIT_TO_ICT.values() for channel, _ in targets}
    assert mapped <= set(rig.channel_names)
    assert mapped | set(ICT_EXTRA_CHANNELS) == set(rig.channel_names)  # nothing of ICT's left unreachable
    assert ARKIT_TO_ICT["tongueOut"] == ()
    assert dict(ARKIT_TO_ICT["cheekPuff"]) == {"cheekPuff_L": 1.0, "cheekPuff_R": 1.0}
    assert ARKIT_TO_ICT["jawLeft"] == (("jawLeft", 1.0),)


def test_encoders_emit_only_mapped_names() -> None:
    # The webcam and audio drivers write ARKIT_52 vectors; any literal ARKit name in them must be mapped.
    root = Path(__file__).resolve().parents[2] / "codecav" / "encoders"
    names = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ARKIT_INDEX:
                names.add(node.value)
    assert names and names <= set(ARKIT_TO_ICT)


def test_zero_weights_give_the_neutral(rig: IctFaceModel) -> None:
    np.testing.assert_array_equal(rig.posed(np.zeros(52, np.float32)), rig.positions)


def test_jaw_open_moves_the_chin_down_and_not_the_forehead(rig: IctFaceModel) -> None:
    moved = rig.posed(_weights(jawOpen=1.0)) - rig.positions
    assert moved[rig.landmarks[8], 1] < -0.015  # chin drops > 1.5 cm
    assert np.abs(moved[rig.landmarks[19]]).max() < 1e-4  # brow stays


def test_left_means_the_avatars_left(rig: IctFaceModel) -> None:
    for name in ("eyeBlinkLeft", "mouthSmileLeft", "browDownLeft"):
        moved = np.linalg.norm(rig.posed(_weights(**{name: 1.0})) - rig.positions, axis=1)
        assert rig.positions[moved > 1e-3, 0].mean() > 0.01, name


def test_split_channels_follow_one_arkit_weight(rig: IctFaceModel) -> None:
    w = ict_channel_weights(_weights(browInnerUp=0.5), rig.channel_names)
    assert w[rig.channel_names.index("browInnerUp_L")] == 0.5 == w[rig.channel_names.index("browInnerUp_R")]
    assert w.sum() == 1.0
    extra = ict_channel_weights(_weights(), rig.channel_names, {"cheekRaiser_L": 0.3})
    assert extra[rig.channel_names.index("cheekRaiser_L")] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="unknown ICT channel 'nope'"):
        ict_channel_weights(_weights(), rig.channel_names, {"nope": 1.0})


def test_identity_modes_change_the_shape(rig: IctFaceModel) -> None:
    a = rig.shape(np.array([2.0]))
    assert np.abs(a - rig.positions).max() > 0.005
    with pytest.raises(ValueError, match="21 identity weights"):
        rig.shape(np.zeros(21))


def test_head_model_matches_the_rig(rig: IctFaceModel) -> None:
    head = to_head_model(rig)
    w = _weights(jawOpen=0.4, mouthSmileRight=0.7, cheekPuff=0.2)
    np.testing.assert_allclose(head.posed(w), rig.posed(w), atol=1e-6)
    lashes = rig.part_names.index("eyelashes")
    assert len(head.mesh.faces) == int((rig.face_part != lashes).sum())
    assert set(np.unique(head.vertex_region)) == set(range(len(REGIONS)))
    assert head.eye_centres[0, 0] > 0.02 and head.eye_centres[1, 0] < -0.02


def test_the_neck_is_carried_down_and_capped_out_of_every_cameras_frame_on_an_island_of_its_own(
        rig: IctFaceModel) -> None:
    neck = rig.part_names.index("head_neck")
    faces = np.asarray(rig.mesh.faces)
    geo = np.asarray(rig.mesh.vertex_index)[faces]
    assert not [loop for loop in boundary_loops(geo) if (rig.vertex_part[loop] == neck).all()]  # no open neck
    cap = np.flatnonzero((geo == rig.num_vertices - 1).any(axis=1))  # the fan around the new centre vertex
    assert len(cap) >= 40 and (rig.face_part[cap] == neck).all()
    corners = rig.positions[geo[cap]]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert (normals[:, 1] < 0).all()  # wound to face down, out of the neck
    # The tube: one quad per border edge between ICT's cut and its copy NECK_EXTENSION_M lower, facing out.
    lowered = np.arange(rig.num_vertices - 1 - len(cap), rig.num_vertices - 1)
    tube = np.flatnonzero(np.isin(geo, lowered).any(axis=1) & ~np.isin(np.arange(len(geo)), cap))
    assert len(tube) == 2 * len(cap) and (rig.face_part[tube] == neck).all()
    corners = rig.positions[geo[tube]]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outward = corners.mean(axis=1) - rig.positions[-1]
    assert ((normals * outward)[:, [0, 2]].sum(axis=1) > 0).all()
    border = np.setdiff1d(np.unique(geo[tube]), lowered)
    assert len(border) == len(lowered)
    for vertex in lowered:  # straight below a border vertex
        offsets = rig.positions[border] - rig.positions[vertex]
        nearest = np.argmin(np.linalg.norm(offsets[:, [0, 2]], axis=1))
        np.testing.assert_allclose(offsets[nearest], [0.0, NECK_EXTENSION_M, 0.0], atol=1e-6)
    # No camera of the studio's rig below the cap (the only ones that can see it) frames it, so no training image
    # shows it edge-on.
    cap_points = rig.positions[np.unique(geo[cap])]
    below = [camera for camera in make_rig() if camera.centre[1] < cap_points[:, 1].max()]
    assert len(below) >= 5
    for camera in below:
        pixels = camera.project(cap_points)
        inside = (pixels >= 0).all(axis=1) & (pixels[:, 0] < camera.width) & (pixels[:, 1] < camera.height)
        assert not inside.any(), camera.name
    uv = np.asarray(rig.mesh.uv)
    cap_uv = uv[faces[cap]].reshape(-1, 2)
    assert np.linalg.norm(cap_uv - NECK_CAP_UV_CENTRE, axis=1).max() <= NECK_TUBE_UV_INNER_RADIUS + 1e-6
    tube_radius = np.linalg.norm(uv[faces[tube]].reshape(-1, 2) - NECK_CAP_UV_CENTRE, axis=1)
    assert tube_radius.max() <= NECK_CAP_UV_RADIUS + 1e-6
    # No other drawn triangle (the studio never draws the eyelashes) reaches the island or its 6-texel gutter.
    lashes = rig.part_names.index("eyelashes")
    drawn = np.setdiff1d(np.flatnonzero(rig.face_part != lashes), np.concatenate([cap, tube]))
    weights = np.random.default_rng(0).dirichlet([1, 1, 1], size=(8, len(drawn)))
    samples = np.einsum("sfk,fkc->sfc", weights, uv[faces[drawn]]).reshape(-1, 2)
    assert np.linalg.norm(samples - NECK_CAP_UV_CENTRE, axis=1).min() > NECK_CAP_UV_RADIUS + 6 / 256
