"""Trainer: a tiny PiCA model trained for a few steps on a quick capture lowers its loss; the split holds out
cameras and expressions; checkpoints resume where they stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import moderngl
import numpy as np
import pytest

from codecav.training.dataset import CaptureData, SplitConfig, load_capture_data, make_split, region_vertices
from codecav.training.multiface import FrameRef
from codecav.training.studio.capture import capture_identity
from codecav.training.studio.head_model import HeadModel

torch = pytest.importorskip("torch", reason="the trainer needs the train extra (pip install codecav[train])")

from codecav.training.errors import CheckpointError  # noqa: E402
from codecav.training.model import ModelConfig  # noqa: E402
from codecav.training.trainer import TrainConfig, train  # noqa: E402

TINY = ModelConfig(segments=(("face", 8), ("eyes", 4), ("mouth", 4)), decoder_channels=(16, 16, 8, 8, 8),
                   mlp_hidden=(8, 8), encoder_hidden=16, encoder_vertices=200)
"""A small model that trains in seconds on 2 cores."""


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory, gl_context: moderngl.Context,
                head_model: HeadModel) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    out = tmp_path_factory.mktemp("cap")
    capture_identity(1, out, preset="quick", frames=10, cache_dir=tmp_path_factory.mktemp("cache"))
    return out


@pytest.fixture(scope="module")
def data(capture_dir: Path) -> CaptureData:
    return load_capture_data(capture_dir)


def test_split_holds_out_cameras_and_expressions() -> None:
    frames = tuple(FrameRef(seg, f"{i:06d}") for i, seg in enumerate(["EXP_random"] * 20 + ["SEN_0"] * 5 +
                                                                      ["SEN_1"] * 5 + ["BLINK"] * 3))
    cams = [f"4000{i:02d}" for i in range(24)]
    split = make_split(frames, cams, SplitConfig())
    assert split.heldout_cameras == ("400003", "400009", "400015", "400021")
    assert "400000" in split.train_cameras and not set(split.train_cameras) & set(split.heldout_cameras)
    held = set(split.heldout_frames)
    assert set(range(25, 30)) <= held and len(held) == 5 + 2  # SEN_1 and 10% of the random frames
    assert not held & set(split.train_frames) and len(held) + len(split.train_frames) == len(frames)
    assert make_split(frames, cams, SplitConfig()) == split


def test_dataset_shapes_and_regions(data: CaptureData) -> None:
    frames, cams = len(data.meshes), len(data.loaded_cameras)
    assert data.textures.shape == (frames, cams, len(data.texels.index), 3)
    assert data.loaded_cameras == data.split.train_cameras and data.split.heldout_cameras == ("400003",)
    seen = (data.textures.sum(axis=-1) > 0).mean()
    assert 0.1 < seen < 0.9  # each camera sees part of the atlas
    # texel positions lie on the mesh: the texel barycentrics of the rest pose reproduce vertex positions nearby
    points = data.texels.positions(data.meshes[0])
    nearest = np.linalg.norm(points[:, None] - data.meshes[0][data.texels.vertices], axis=2).min(axis=1)
    assert np.percentile(nearest, 99) < 0.02
    regions = region_vertices(data.topology)
    assert len(regions["eyes"]) < len(regions["face"]) and len(regions["mouth"]) < len(regions["face"])
    mouth_y = data.topology.rest_positions[regions["mouth"], 1].mean()
    eyes_y = data.topology.rest_positions[regions["eyes"], 1].mean()
    assert eyes_y > mouth_y + 0.03  # eyes above the mouth (head space +y up)


def test_tiny_model_loss_falls_and_resumes(data: CaptureData, tmp_path: Path) -> None:
    config = TrainConfig(steps=30, batch=2, lr=3e-3, checkpoint_every=15)
    ckpt = tmp_path / "model.ckpt"
    result = train(data, TINY, config, checkpoint=ckpt, report_every=5)
    history = result.history
    assert [h.step for h in history] == list(range(5, 35, 5))
    assert history[-1].loss < 0.7 * history[0].loss
    assert history[-1].geometry_mm < history[0].geometry_mm
    assert ckpt.is_file()
    resumed = train(data, TINY, TrainConfig(steps=35, batch=2, lr=3e-3, checkpoint_every=15), checkpoint=ckpt,
                    resume=True, report_every=5)
    assert [h.step for h in resumed.history][-2:] == [30, 35] and resumed.wall_time_s > result.wall_time_s
    with pytest.raises(CheckpointError, match="another model configuration"):
        train(data, ModelConfig(kind="dam", segments=TINY.segments), config, checkpoint=ckpt, resume=True)
