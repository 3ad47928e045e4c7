"""ExpressionEncoder and ExpressionLatentSource on a synthetic avatar's real ONNX expression encoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage
from codecav.assets.writer import write_avatar
from codecav.clock import FakeClock
from codecav.encoders.errors import EncoderModelError, MissingEncoderError
from codecav.encoders.expression import EXPRESSION_MEMBER, ExpressionEncoder
from codecav.encoders.gaze import GazeTrackSource, eye_direction
from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig
from codecav.encoders.track import ExpressionTrackSource
from codecav.latent import FrameFlags


def test_encoder_runs_and_segments_follow_their_blendshapes(driven_avatar: AvatarPackage, tmp_path: Path) -> None:
    loaded = load_avatar(write_avatar(driven_avatar, tmp_path / "a.cavatar"))
    encoder = ExpressionEncoder.from_package(loaded, threads=1)
    layout = loaded.manifest.latent
    neutral = encoder.encode(np.zeros(52, np.float32))
    jaw = np.zeros(52, np.float32)
    jaw[ARKIT_INDEX["jawOpen"]] = 1.0
    code = encoder.encode(jaw)
    assert code.shape == (layout.dim,) and code.dtype == np.float32
    moved = np.abs(code - neutral)
    assert moved[layout.slice_of("mouth")].max() > 0.05
    assert moved[layout.slice_of("eyes")].max() == 0.0  # jawOpen does not touch the eyes segment
    batch = encoder.encode(np.stack([np.zeros(52, np.float32), jaw]))
    np.testing.assert_allclose(batch[1], code, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[52\] or \[N, 52\]"):
        encoder.encode(np.zeros(51, np.float32))


def test_missing_encoder_is_one_line(driven_avatar: AvatarPackage) -> None:
    bare = replace(driven_avatar, encoders_onnx={})
    with pytest.raises(MissingEncoderError, match="has no encoders/expression.onnx") as info:
        ExpressionEncoder.from_package(bare)
    assert "\n" not in str(info.value) and "codecav avatar" in str(info.value)


def test_encoder_with_wrong_outputs_is_rejected(driven_avatar: AvatarPackage) -> None:
    wrong = replace(driven_avatar, encoders_onnx={EXPRESSION_MEMBER: driven_avatar.decoder_onnx})
    with pytest.raises(EncoderModelError, match="no input 'arkit'"):
        ExpressionEncoder.from_package(wrong)
    with pytest.raises(EncoderModelError, match="cannot be loaded"):
        ExpressionEncoder(b"not onnx", driven_avatar.manifest.latent)


def test_latent_source_offline_rate_order_and_gaze(driven_avatar: AvatarPackage) -> None:
    encoder = ExpressionEncoder.from_package(driven_avatar)
    weights = np.zeros((60, 52), np.float32)  # 2 s at 30 fps: jaw opens over the second half
    weights[30:, ARKIT_INDEX["jawOpen"]] = 1.0
    gaze = np.tile(np.stack([eye_direction(10, 0), eye_direction(10, 0)]), (100, 1, 1))  # 1 s at 100 Hz
    sources = {"webcam": ExpressionTrackSource(weights, 30.0), "gaze": GazeTrackSource(gaze, 100.0)}
    with ExpressionLatentSource(sources, encoder, LatentSourceConfig(fps=25.0)) as latent:
        frames = []
        while (frame := latent.read()) is not None:
            frames.append(frame)
    # 0 .. 59/30 s sampled at 25 fps: 50 frames (t = 0, 40 ms, ..., 1.96 s)
    assert [f.sequence for f in frames] == list(range(50))
    assert [f.capture_time_us for f in frames] == [k * 40_000 for k in range(50)]
    mouth = driven_avatar.manifest.latent.slice_of("mouth")
    assert not np.allclose(frames[10].code[mouth], frames[40].code[mouth])
    np.testing.assert_allclose(frames[0].code, frames[20].code, atol=1e-6)
    assert frames[5].gaze is not None and frames[5].gaze.left[0] > 0.1
    assert frames[5].flags & FrameFlags.NO_GAZE == 0
    # gaze ends at 0.99 s; afterwards its last sample stays the newest one (offline replay holds it)
    assert frames[40].gaze is not None


def test_latent_source_live_paced_by_injected_clock(driven_avatar: AvatarPackage) -> None:
    slept: list[float] = []

    class SleepLog(FakeClock):
        def sleep_ns(self, duration_ns: int) -> None:
            slept.append(duration_ns / 1e9)
            super().sleep_ns(duration_ns)

    clock = SleepLog(1_000_000_000)
    weights = np.zeros((3, 52), np.float32)
    source = ExpressionTrackSource(weights, 30.0, start_time_us=clock.now_us())
    config = LatentSourceConfig(fps=10.0, realtime=True, max_age_s=0.25)
    latent = ExpressionLatentSource({"webcam": source}, ExpressionEncoder.from_package(driven_avatar), config,
                                    clock=clock)
    first = latent.read()
    assert first is not None and first.capture_time_us == 1_000_000 and first.flags & FrameFlags.TRACKING_LOST == 0
    frames = [latent.read() for _ in range(4)]
    assert [f.capture_time_us for f in frames if f] == [1_100_000, 1_200_000, 1_300_000, 1_400_000]
    assert slept and abs(slept[0] - 0.1) < 1e-6
    # the source's newest sample (t = 1.067 s) is older than max_age by 1.4 s: tracking lost
    assert frames[-1] is not None and frames[-1].flags & FrameFlags.TRACKING_LOST
    latent.close()
    assert latent.read() is None
