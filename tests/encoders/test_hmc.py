"""Headset cameras in the studio (GL on llvmpipe), the shipped HMC encoder on held-out renders, per-view
confidence and fusion with audio, recorded clips and their replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.assets.package import AvatarPackage
from codecav.encoders.base import ExpressionSample
from codecav.encoders.clip import ClipSource, load_clip, shipped_clip, write_clip
from codecav.encoders.errors import ClipError, MissingEncoderError
from codecav.encoders.expression import ExpressionEncoder
from codecav.encoders.fusion import fuse
from codecav.encoders.hmc import HmcEncoder, hmc_confidence, shipped_hmc_model, view_quality
from codecav.encoders.latent_source import ExpressionLatentSource
from codecav.latent import FrameFlags
from codecav.training.studio.hmc import HmcStudio

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def studio() -> Iterator[HmcStudio]:
    """HMC renderer of identity 0 (GL through EGL)."""
    try:
        s = HmcStudio(0)
    except Exception as exc:  # StudioError without EGL
        pytest.skip(f"no studio GL: {exc}")
    yield s
    s.close()


def test_cameras_look_at_the_eyes_and_mouth_and_slippage_moves_them() -> None:
    from codecav.training.studio.head_model import load_head_model
    from codecav.training.studio.hmc import HmcConfig, hmc_cameras, slippage

    model = load_head_model()
    cams = hmc_cameras(model)
    assert [c.name for c in cams] == ["left_eye", "right_eye", "mouth"]
    for cam, point in zip(cams[:2], model.eye_centres, strict=True):
        np.testing.assert_allclose(cam.project(point[None])[0], [64, 64], atol=1e-6)
        assert 0.06 < np.linalg.norm(cam.centre - point) < 0.12  # beyond the studio's 5 cm near plane
    slipped = hmc_cameras(model, slip=slippage(np.random.default_rng(3), HmcConfig()))
    shift = np.linalg.norm(slipped[0].project(model.eye_centres[:1])[0] - [64, 64])
    assert 0.5 < shift < 30  # a few pixels, the eye stays in view


def test_views_are_ir_like_and_change_with_the_expression(studio: HmcStudio) -> None:
    neutral = studio.render(np.zeros(52, np.float32))
    jaw = np.zeros(52, np.float32)
    jaw[ARKIT_INDEX["jawOpen"]] = 1.0
    blink = np.zeros(52, np.float32)
    blink[ARKIT_INDEX["eyeBlinkLeft"]] = 1.0
    opened, blinked = studio.render(jaw), studio.render(blink)
    assert neutral.shape == (3, 128, 128) and neutral.dtype == np.uint8
    assert all(view_quality(v) > 0.5 for v in neutral)
    diff = np.abs(opened.astype(int) - neutral).mean(axis=(1, 2))
    assert diff[2] > 3 * max(diff[0], diff[1], 0.1)  # the jaw shows in the mouth camera
    diff = np.abs(blinked.astype(int) - neutral).mean(axis=(1, 2))
    assert diff[0] > 3 * max(diff[1], diff[2], 0.1)  # the left eyelid in the left-eye camera
    noisy = studio.render(np.zeros(52, np.float32), rng=np.random.default_rng(0))
    assert 1.0 < np.abs(noisy.astype(int) - neutral).mean() < 20.0


def test_shipped_encoder_reads_held_out_expressions(studio: HmcStudio) -> None:
    from codecav.training.studio.hmc import random_hmc_expression, slippage

    encoder = HmcEncoder(shipped_hmc_model(0))
    rng = np.random.default_rng(424242)  # not a training seed
    truth = np.stack([random_hmc_expression(rng) for _ in range(24)])
    views = np.stack([studio.render(w, slippage(rng, studio.config), rng) for w in truth])
    pred = encoder.encode(views)
    assert pred.shape == (24, 52)
    baseline = np.abs(truth - truth.mean(axis=0)).mean()
    assert np.abs(pred - truth).mean() < 0.6 * baseline
    np.testing.assert_allclose(encoder.encode(views[0]), pred[0], atol=1e-5)


def test_dark_mouth_camera_hands_the_mouth_to_audio() -> None:
    views = np.random.default_rng(0).integers(40, 200, (3, 128, 128)).astype(np.uint8)
    good = hmc_confidence(views)
    covered = views.copy()
    covered[2] = 2  # the mouth camera sees nothing
    bad = hmc_confidence(covered)
    jaw, blink = ARKIT_INDEX["jawOpen"], ARKIT_INDEX["eyeBlinkLeft"]
    assert good[jaw] > 0.8 and bad[jaw] == 0.0 and bad[blink] == good[blink] > 0.8
    hmc_w = np.zeros(52, np.float32)
    audio_w = np.zeros(52, np.float32)
    audio_w[jaw] = 0.6
    audio_c = np.zeros(52, np.float32)
    audio_c[jaw] = 0.9
    audio = ExpressionSample(0, audio_w, audio_c)
    assert fuse({"hmc": ExpressionSample(0, hmc_w, good), "audio": audio}).weights[jaw] < 0.1
    assert fuse({"hmc": ExpressionSample(0, hmc_w, bad), "audio": audio}).weights[jaw] == pytest.approx(0.6)


def test_missing_hmc_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(MissingEncoderError, match="codecav driver train-hmc") as info:
        HmcEncoder(tmp_path / "none.onnx")
    assert "\n" not in str(info.value)


def test_clip_round_trip_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    hmc = rng.integers(0, 255, (5, 3, 32, 32)).astype(np.uint8)
    gaze = np.tile(np.array([0, 0, 1], np.float32), (5, 2, 1))
    path = write_clip(tmp_path / "c", identity=7, fps=30.0, hmc=hmc, audio=np.zeros(2000, np.float32), gaze=gaze,
                      expressions=np.zeros((5, 52), np.float32), text="hi", command="test")
    clip = load_clip(path)
    assert (clip.identity, clip.frames, clip.hmc_size, clip.text) == (7, 5, 32, "hi")
    frames = list(clip.hmc_frames())
    assert [f.capture_time_us for f in frames] == [round(i * 1e6 / 30) for i in range(5)]
    assert np.abs(frames[3].images.astype(int) - hmc[3]).mean() < 25  # JPEG
    (path / "gaze.npy").unlink()
    with pytest.raises(ClipError, match="has no gaze.npy"):
        load_clip(path)
    np.save(path / "gaze.npy", gaze[:4])
    with pytest.raises(ClipError, match="do not match its 5 frames"):
        load_clip(path)
    meta = json.loads((path / "clip.json").read_text())
    (path / "clip.json").write_text(json.dumps({**meta, "format": 9}))
    with pytest.raises(ClipError, match="malformed"):
        load_clip(path)


def test_shipped_clip_drives_an_avatar(driven_avatar: AvatarPackage) -> None:
    clip = load_clip(shipped_clip(0))
    assert clip.expressions is not None and clip.frames >= 60
    with ClipSource(shipped_clip(0)) as source:
        fused = []
        while (sample := source.read()) is not None:
            fused.append(sample)
    assert len(fused) == clip.frames
    jaw = ARKIT_INDEX["jawOpen"]
    pred, truth = np.array([s.weights[jaw] for s in fused]), clip.expressions[:, jaw]
    assert np.corrcoef(pred, truth)[0, 1] > 0.6
    assert all(s.gaze is not None for s in fused[1:])
    latent = ExpressionLatentSource(clip.sources(), ExpressionEncoder.from_package(driven_avatar))
    frames = []
    while (frame := latent.read()) is not None:
        frames.append(frame)
    latent.close()
    assert abs(len(frames) - clip.frames) <= 1
    assert not any(f.flags & FrameFlags.TRACKING_LOST for f in frames)
    assert any(f.flags & FrameFlags.SPEAKING for f in frames)


def test_studio_hmc_source_streams_live_frames() -> None:
    from codecav.cli.sources import register_cli_sources
    from codecav.encoders.sources import open_source

    register_cli_sources()
    kind, source = open_source("hmc-studio:0")
    try:
        first, second = source.read(), source.read()
    finally:
        source.close()
    assert kind == "hmc" and first is not None and second is not None
    assert 30_000 <= second.capture_time_us - first.capture_time_us <= 36_000  # 30 fps
    assert first.confidence.min() > 0.5  # every view is well exposed
    assert source.read() is None


@pytest.mark.slow
def test_hmc_driven_avatar_matches_the_person() -> None:
    # The shipped HMC models belong to the MakeHuman studio identities: ada (identity 0) is their avatar.
    from codecav.training.drivers_eval import hmc_decode_psnr, sample_identity
    from tests.assets.makehuman import ADA

    identity = sample_identity(ADA)
    assert identity == 0
    score = hmc_decode_psnr(ADA, identity, shipped_hmc_model(identity), frames=3)
    assert score.reference_psnr_db > 24.0
    assert score.psnr_db > score.reference_psnr_db - 3.0  # the HMC path loses little against true weights
