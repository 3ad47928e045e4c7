"""GL: a quick capture renders heads in frame, and the KRT written reprojects the tracked meshes onto them."""

from __future__ import annotations

import shutil
from pathlib import Path

import moderngl
import numpy as np
import pytest

from codecav.training.multiface import MultifaceCamera, read_capture
from codecav.training.studio.capture import CaptureSummary, capture_identity
from codecav.training.studio.head_model import HeadModel

BACKGROUND = np.array([26, 26, 26])  # Lighting.background 0.1 in 8-bit


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory, gl_context: moderngl.Context,
            head_model: HeadModel) -> CaptureSummary:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    cache = tmp_path_factory.mktemp("cache")
    return capture_identity(3, tmp_path_factory.mktemp("cap"), preset="quick", cache_dir=cache)


def _head_mask(image: np.ndarray) -> np.ndarray:
    return np.abs(image.astype(int) - BACKGROUND).sum(axis=2) > 12


def _project(cam: MultifaceCamera, points: np.ndarray) -> np.ndarray:
    p = points.astype(np.float64) @ cam.extrinsics[:, :3].T + cam.extrinsics[:, 3]
    q = p @ cam.intrinsics.T
    return q[:, :2] / q[:, 2:3]


def test_capture_layout(capture: CaptureSummary) -> None:
    root = Path(capture.out_dir)
    assert [s for s, _ in capture.segments] == ["EXP_random", "SEN_0", "BLINK", "GAZE"]
    cap = read_capture(root)
    assert len(cap.frames) == capture.frames == 18 and len(cap.cameras) == capture.cameras == 4
    assert cap.expressions is not None and cap.expressions.shape == (18, 52)
    assert (root / "audio" / "SEN_0.wav").is_file() and (root / "studio" / "topology.npz").is_file()
    tex = cap.texture(cap.frames[0])
    assert tex.shape == (256, 256, 3) and tex.mean() > 10
    assert cap.texture(cap.frames[0], "400000").shape == (256, 256, 3)
    assert capture.frames_per_second > 0
    poses = np.stack([cap.transform(ref) for ref in cap.frames])
    assert np.allclose(poses[:, :, :3] @ poses[:, :, :3].transpose(0, 2, 1), np.eye(3), atol=1e-6)
    assert 1e-4 < np.abs(poses[:, :, 3]).max() < 0.02  # small smooth head motion, metres


def test_frontal_image_has_centred_head(capture: CaptureSummary) -> None:
    cap = read_capture(capture.out_dir)
    image = cap.image(cap.frames[0], cap.cameras[0].name)
    mask = _head_mask(image)
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    assert 0.2 < mask.mean() < 0.7
    assert abs(cols.mean() - w / 2) < 0.05 * w and abs(rows.mean() - h / 2) < 0.12 * h
    assert rows.min() > 0 and cols.min() > 0 and cols.max() < w - 1  # nothing cut at the sides or top
    assert np.abs(mask[:, ::-1].astype(int) - mask).mean() < 0.08  # left-right symmetric-ish (head moves a little)


def test_tracked_mesh_reprojects_onto_the_head(capture: CaptureSummary, head_model: HeadModel) -> None:
    cap = read_capture(capture.out_dir)
    skin = head_model.vertex_region == 0
    for ref in (cap.frames[0], cap.frames[-1]):
        mesh = cap.mesh(ref)
        pose = cap.transform(ref)
        world = mesh @ pose[:, :3].T + pose[:, 3]
        for cam in cap.cameras:
            mask = _head_mask(cap.image(ref, cam.name))
            uv = _project(cam, world[skin])
            col = np.clip(uv[:, 0].astype(int), 0, mask.shape[1] - 1)
            row = np.clip(uv[:, 1].astype(int), 0, mask.shape[0] - 1)
            assert mask[row, col].mean() > 0.97, cam.name
            # The silhouette's extent matches the projected mesh's (scale and offset are right).
            rows, cols = np.nonzero(mask)
            assert abs(cols.min() - uv[:, 0].min()) < 3 and abs(cols.max() - uv[:, 0].max()) < 3
            assert abs(rows.min() - uv[:, 1].min()) < 3


def test_unwrapped_texture_matches_the_image(capture: CaptureSummary) -> None:
    """A texel of the frontal camera's unwrapped texture holds the colour of the pixel its surface point
    projects to (the unwrap pass samples the right place)."""
    root = Path(capture.out_dir)
    cap = read_capture(root)
    topo = np.load(root / "studio" / "topology.npz")
    uv, index = topo["uv"], topo["vertex_index"]
    ref, cam = cap.frames[0], cap.cameras[0]
    mesh, pose = cap.mesh(ref), cap.transform(ref)
    world = mesh @ pose[:, :3].T + pose[:, 3]
    image, texture = cap.image(ref, cam.name), cap.texture(ref, cam.name)
    # Render vertices on the front of the face (cheeks, forehead), well inside their triangles' colours.
    front = (mesh[index, 2] > 0.06) & (np.abs(mesh[index, 0]) < 0.05) & (topo["vertex_region"][index] == 0)
    pix = _project(cam, world[index[front]])
    size = texture.shape[0]
    texel = np.clip((uv[front] * size).astype(int), 0, size - 1)
    from_texture = texture[texel[:, 1], texel[:, 0]].astype(int)
    from_image = image[pix[:, 1].astype(int), pix[:, 0].astype(int)].astype(int)
    seen = from_texture.sum(axis=1) > 0
    assert seen.mean() > 0.5  # eye sockets, nostrils and the inner lips are hidden
    error = np.abs(from_texture[seen] - from_image[seen]).sum(axis=1)
    assert np.median(error) < 12, np.median(error)
