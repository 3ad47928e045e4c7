"""Trainer: a tiny PiCA model trained for a few steps on a quick capture lowers its loss; the split holds out
cameras and expressions; checkpoints resume where they stopped; the export loads, verifies, matches torch
under onnxruntime and renders through the GLSL path onto the captured head."""

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

from codecav.assets.loader import load_avatar  # noqa: E402
from codecav.assets.package import run_pixel_mlp  # noqa: E402
from codecav.assets.verify import verify_avatar  # noqa: E402
from codecav.assets.writer import write_avatar  # noqa: E402
from codecav.decoders.base import AvatarDraw  # noqa: E402
from codecav.decoders.neural import OnnxNeuralDecoder  # noqa: E402
from codecav.decoders.pica_gl import PicaOptions, PicaRenderer  # noqa: E402
from codecav.training.errors import CheckpointError  # noqa: E402
from codecav.training.evaluate import BACKGROUND, camera_centre, camera_view, expression_codes  # noqa: E402
from codecav.training.export import DecoderGraph, build_package, fit_expression_encoder, pixel_mlp  # noqa: E402
from codecav.training.metrics import psnr  # noqa: E402
from codecav.training.model import ModelConfig  # noqa: E402
from codecav.training.multiface import read_capture  # noqa: E402
from codecav.training.trainer import TrainConfig, TrainResult, build_model, train  # noqa: E402
from codecav.xr.headless import HeadlessTarget  # noqa: E402

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


CONFIG = TrainConfig(steps=30, batch=2, lr=3e-3, checkpoint_every=15)


@pytest.fixture(scope="module")
def trained(data: CaptureData, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    ckpt = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    return train(data, TINY, CONFIG, checkpoint=ckpt, report_every=5), ckpt


@pytest.fixture(scope="module")
def package_path(trained: tuple[TrainResult, Path], data: CaptureData,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = trained[0].model
    fit = fit_expression_encoder(model, data, steps=200)
    package = build_package(model, data, avatar_id="test-tiny", name="tiny", expression=fit.module,
                            provenance={"kind": "trained", "model": "pica", "data": {"identity": {"index": 1}}})
    return write_avatar(package, tmp_path_factory.mktemp("pkg") / "tiny.cavatar")


@pytest.mark.slow
def test_tiny_model_loss_falls_and_resumes(data: CaptureData, trained: tuple[TrainResult, Path]) -> None:
    result, ckpt = trained
    history = result.history
    assert [h.step for h in history] == list(range(5, 35, 5))
    assert history[-1].loss < 0.7 * history[0].loss
    assert history[-1].geometry_mm < history[0].geometry_mm
    assert ckpt.is_file()
    resumed = train(data, TINY, TrainConfig(steps=35, batch=2, lr=3e-3, checkpoint_every=15), checkpoint=ckpt,
                    resume=True, report_every=5)
    assert [h.step for h in resumed.history][-2:] == [30, 35] and resumed.wall_time_s > result.wall_time_s
    with pytest.raises(CheckpointError, match="another model configuration"):
        train(data, ModelConfig(kind="dam", segments=TINY.segments), CONFIG, checkpoint=ckpt, resume=True)


@pytest.mark.slow
def test_gradient_clipping_acts_only_above_its_norm(data: CaptureData, trained: tuple[TrainResult, Path]) -> None:
    history = trained[0].history
    assert all(h.grad_norm_max > 0 for h in history)  # the largest norm of each report, before clipping
    peak = max(h.grad_norm_max for h in history[:2])

    def params(clip: float) -> list[np.ndarray]:
        config = TrainConfig(steps=10, batch=2, lr=3e-3, checkpoint_every=100, clip_grad_norm=clip)
        return [p.detach().numpy() for p in train(data, TINY, config).model.parameters()]

    unclipped = params(0.0)
    # Above every norm the run is bit for bit the unclipped one; below them it takes other steps.
    assert all(np.array_equal(a, b) for a, b in zip(params(1e6 * peak), unclipped, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(params(1e-3 * peak), unclipped, strict=True))


def test_export_loads_verifies_and_matches_torch(package_path: Path, trained: tuple[TrainResult, Path]) -> None:
    report = verify_avatar(package_path)
    assert report.provenance_kind == "trained" and report.features_shape == (1, 8, 256, 256)
    package = load_avatar(package_path)
    assert [s.name for s in package.manifest.latent.segments] == ["face", "eyes", "mouth"]
    assert "encoders/expression.onnx" in package.encoders_onnx
    rng = np.random.default_rng(0)
    code = rng.standard_normal(TINY.latent_dim).astype(np.float32)
    view = np.array([0.3, 0.2, 0.93], np.float32)
    frame = OnnxNeuralDecoder(package.decoder_onnx).decode(code, view)
    with torch.no_grad():
        geometry, features = DecoderGraph(trained[0].model)(torch.as_tensor(code[None]), torch.as_tensor(view[None]))
    assert np.abs(frame.geometry - geometry[0].numpy()).max() < 1e-5
    # avatar build stores the large weights as float16 (onnx_compact): each within 2^-11 of itself
    assert package.manifest.provenance["decoder_weights"]["float16"]
    want_features = features[0].numpy().transpose(1, 2, 0)
    assert np.abs(frame.features - want_features).max() < 2e-3 * max(1.0, float(np.abs(want_features).max()))
    # the package's MLP is the trained one: same RGB as torch at some texels
    mlp = trained[0].model.mlp
    assert mlp is not None
    x = torch.as_tensor(rng.standard_normal((16, 8 + 3 + 4 * TINY.uv_frequencies)), dtype=torch.float32)
    uv = rng.uniform(0, 1, (16, 2))
    from codecav.training.model import uv_encoding
    x[:, 11:] = uv_encoding(torch.as_tensor(uv, dtype=torch.float32), TINY.uv_frequencies)
    want = torch.sigmoid(mlp(x)).detach().numpy()
    got = run_pixel_mlp(package.pixel_mlp, x[:, :8].numpy(), x[:, 8:11].numpy(), uv)
    assert np.abs(got - want).max() < 1e-5
    codes = expression_codes(package, np.zeros((3, 52), np.float32))
    assert codes.shape == (3, TINY.latent_dim) and np.isfinite(codes).all()


def test_dam_export_passes_logits_through(data: CaptureData) -> None:
    model = build_model(data, ModelConfig(kind="dam", segments=TINY.segments, decoder_channels=(8, 8)))
    mlp = pixel_mlp(model)
    logits = np.random.default_rng(1).normal(0, 3, (64, 4))
    logits[:, 3] = 0
    rgb = run_pixel_mlp(mlp, logits, np.tile([0.0, 0.0, 1.0], (64, 1)), np.zeros((64, 2)))
    assert np.allclose(rgb, 1 / (1 + np.exp(-logits[:, :3])), atol=1e-12)


def test_export_renders_onto_the_captured_head(package_path: Path, capture_dir: Path,
                                               gl_context: moderngl.Context) -> None:
    package = load_avatar(package_path)
    capture = read_capture(capture_dir)
    assert capture.expressions is not None
    ref, cam = capture.frames[5], capture.cameras[0]
    truth = capture.image(ref, cam.name)
    height, width = truth.shape[:2]
    pose = np.eye(4)
    pose[:3] = capture.transform(ref)
    eye = np.linalg.inv(pose) @ np.append(camera_centre(cam), 1.0)
    code = expression_codes(package, capture.expressions[5:6])[0]
    frame = OnnxNeuralDecoder(package.decoder_onnx).decode(code, (eye[:3] / np.linalg.norm(eye[:3])).astype(np.float32))
    target = HeadlessTarget([camera_view(cam, width, height)], ctx=gl_context)
    renderer = PicaRenderer(gl_context, PicaOptions(background=BACKGROUND))
    try:
        handle = renderer.add_avatar(package.mesh, package.pixel_mlp, package.manifest.feature_map)
        renderer.update(handle, frame)
        (eye_view,) = target.begin_frame()
        renderer.render(eye_view, [AvatarDraw(handle, pose.astype(np.float32))])
        target.present()
        image, covered = target.read_rgb(0), target.read_depth(0) < 1.0
    finally:
        renderer.release()
        target.close()
    head = np.abs(truth.astype(int) - 26).sum(axis=2) > 0
    assert (covered & head).sum() / (covered | head).sum() > 0.97  # KRT -> GL camera and pose agree
    assert psnr(image, truth, covered | head) > 24.0  # even a few steps from the mean texture look like the head
