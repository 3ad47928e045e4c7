"""A remote avatar whose decoder fails or blows its budget is dropped alone: it shows its last good frame for a
moment and then that frame in grey as a placeholder, with one log line and its reason; the other avatars and the
loop go on."""

from __future__ import annotations

import logging

import moderngl
import numpy as np
import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.clock import FakeClock
from codecav.decoders.base import DecodedFrame
from codecav.decoders.gl_common import draw_style_rgb
from codecav.decoders.neural import DecodeBudget, DecodeFailedError, OnnxNeuralDecoder
from codecav.runtime.profiler import Profiler, ProfilerOptions
from codecav.runtime.scene import AvatarInstance, Scene, camera_views, row_layout
from codecav.runtime.scene_renderer import DROPPED_HOLD_NS, SceneRenderer
from codecav.xr.headless import HeadlessTarget


@pytest.mark.gl
def test_a_failing_decoder_is_dropped_alone_after_holding_its_last_frame(
        gl_ctx: moderngl.Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    package = build_synthetic_avatar(seed=3)
    renderer = SceneRenderer(gl_ctx)
    renderer.add_avatar("remote:good", package, budget=DecodeBudget())
    renderer.add_avatar("remote:bad", package, budget=DecodeBudget())
    bad_decoder = renderer._avatars["remote:bad"].decoder
    decode = OnnxNeuralDecoder.decode

    def fails_after_one(self: OnnxNeuralDecoder, latent: np.ndarray, view_dir: np.ndarray) -> DecodedFrame:
        if self is bad_decoder and self.stats.calls >= 1:
            raise DecodeFailedError("onnxruntime failed: Gather index out of range; the avatar is broken")
        frame = decode(self, latent, view_dir)
        return frame

    monkeypatch.setattr(OnnxNeuralDecoder, "decode", fails_after_one)
    dim = package.manifest.latent.dim
    left, right = row_layout(2, spacing=0.3)
    scene = Scene(instances=[AvatarInstance("remote:good", left, np.zeros(dim, np.float32), peer="good"),
                             AvatarInstance("remote:bad", right, np.zeros(dim, np.float32), peer="bad")])
    target = HeadlessTarget(camera_views(96, 48, eye=(0.0, 0.0, 1.0)), ctx=gl_ctx)
    clock = FakeClock(10**9)
    profiler = Profiler(ProfilerOptions(enabled=False), clock=clock)

    def frame() -> np.ndarray:
        renderer.render(scene, target.begin_frame(), profiler)
        target.present()
        return target.read_rgb().astype(np.int16)

    first = frame()  # both decode
    half = first.shape[1] // 2
    with caplog.at_level(logging.WARNING):
        clock.advance(DROPPED_HOLD_NS // 2)
        held = frame()  # bad fails: dropped, its last good frame still shown
    assert set(renderer.dropped()) == {"remote:bad"} and renderer.dropped()["remote:bad"].reason == "decode_failed"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "peer bad" in lines[0] and "decode_failed" in lines[0] and "\n" not in lines[0]
    assert np.abs(held - first).max() <= 1, "the bad avatar holds its last good frame, the good one is unchanged"
    clock.advance(DROPPED_HOLD_NS + 1)
    grey = frame()
    assert np.abs(grey[:, :half] - first[:, :half]).max() <= 1, "the good avatar is still drawn"
    background = first[0, -1]
    covered = np.abs(first[:, half:] - background).max(axis=-1) > 20
    assert covered.sum() > 50, "(the bad avatar was drawn before)"
    shown, was = grey[:, half:][covered], first[:, half:][covered].astype(np.float64) / 255
    assert np.all(shown[:, 0] == shown[:, 1]) and np.all(shown[:, 1] == shown[:, 2]), "the placeholder is grey"
    expected = np.round(draw_style_rgb(was, placeholder=True) * 255)
    assert np.abs(shown - expected).max() <= 2, "the placeholder is its last good frame in grey (draw_style)"
    assert np.abs(grey[:, half:][~covered] - background).max() <= 1, "nothing drawn around it"
    target.close()
    renderer.release()
