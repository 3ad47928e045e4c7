"""The studio head: cut size, topology, regions and blendshapes."""

from __future__ import annotations

import numpy as np

from codecav.arkit import ARKIT_INDEX
from codecav.training.studio.head_model import REGIONS, HeadModel


def test_cut_size_and_topology(head_model: HeadModel) -> None:
    m = head_model
    assert 3000 <= m.num_vertices <= 7000
    faces, uv, index = m.mesh.faces, m.mesh.uv, m.mesh.vertex_index
    assert faces.dtype == np.int32 and faces.min() >= 0 and faces.max() < len(uv)
    assert index.shape == (len(uv),) and len(uv) >= m.num_vertices
    assert np.array_equal(np.unique(index), np.arange(m.num_vertices))  # every vertex is used
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    assert m.blendshapes.shape == (52, m.num_vertices, 3)
    # Head space: metres, centred, a head-sized box.
    lo, hi = m.positions.min(axis=0), m.positions.max(axis=0)
    assert 0.12 < hi[0] - lo[0] < 0.25 and 0.2 < hi[1] - lo[1] < 0.35
    assert np.all(np.abs((lo + hi)[[0, 2]] / 2) < 0.02)
    assert set(np.unique(m.vertex_region)) == set(range(len(REGIONS)))


def test_closed_ish_surface(head_model: HeadModel) -> None:
    """Edges used by a single triangle (boundaries) are few: the neck ring, eyeball rims, helper edges."""
    f = head_model.mesh.vertex_index[head_model.mesh.faces]
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.mean(counts == 1) < 0.1


def test_skin_faces_point_outwards(head_model: HeadModel) -> None:
    p = head_model.positions[head_model.mesh.vertex_index]
    f = head_model.mesh.faces[head_model.face_region == 0]
    normal = np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]])
    centre = p[f].mean(axis=1)
    assert np.mean(np.sum(normal * centre, axis=1) > 0) > 0.75


def _moved(m: HeadModel, name: str) -> tuple[np.ndarray, np.ndarray]:
    delta = m.blendshapes[ARKIT_INDEX[name]]
    moved = np.linalg.norm(delta, axis=1) > 1e-4
    return moved, delta


def test_jaw_open_moves_chin_down(head_model: HeadModel) -> None:
    moved, delta = _moved(head_model, "jawOpen")
    chin = head_model.positions[:, 1] < -0.06  # below the mouth, in front
    chin &= head_model.positions[:, 2] > 0.05
    assert moved[chin].mean() > 0.5
    assert delta[chin & moved, 1].mean() < -0.003
    posed = head_model.posed(np.eye(52, dtype=np.float32)[ARKIT_INDEX["jawOpen"]])
    assert posed[chin, 1].mean() < head_model.positions[chin, 1].mean() - 0.003


def test_blink_left_moves_left_eyelid(head_model: HeadModel) -> None:
    moved, delta = _moved(head_model, "eyeBlinkLeft")
    centre = head_model.positions[moved].mean(axis=0)
    assert centre[0] > 0.015  # the avatar's left is +x
    assert np.allclose(centre[1], head_model.eye_centres[0, 1], atol=0.02)
    assert np.abs(delta[moved, 1]).max() > 0.003
    right_moved, _ = _moved(head_model, "eyeBlinkRight")
    assert head_model.positions[right_moved, 0].mean() < -0.015
