"""The render loop on the headless target with a fake clock: pacing, updates, closing early."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.camera import translation
from codecav.clock import FakeClock, FrameClock
from codecav.encoders.animated_source import code_animation
from codecav.runtime.live_view import run_loop
from codecav.runtime.scene import AvatarInstance, Scene, camera_views
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.headless import HeadlessTarget


def test_code_animation_passes_through_each_code_smoothly() -> None:
    codes = [np.zeros(4, np.float32), np.ones(4, np.float32)]
    anim = code_animation(codes, seconds_per_code=1.0)
    np.testing.assert_allclose(anim(0.0), codes[0])
    np.testing.assert_allclose(anim(1.0), codes[1])
    np.testing.assert_allclose(anim(0.5), 0.5)
    np.testing.assert_allclose(anim(2.0), codes[0], atol=1e-6)  # loops back


@pytest.mark.gl
def test_loop_renders_paced_frames_and_stops_when_asked(gl_ctx: moderngl.Context) -> None:
    package = build_synthetic_avatar(seed=1)
    target = HeadlessTarget(camera_views(64, 48, eye=(0.0, 0.0, 0.8)), ctx=gl_ctx)
    renderer = SceneRenderer(gl_ctx)
    renderer.add_avatar("a", package)
    dim = package.manifest.latent.dim
    scene = Scene([AvatarInstance("a", translation(0, 0, 0), np.zeros(dim, np.float32))])
    fake = FakeClock()
    clock = FrameClock(33_333_333, fake)
    anim = code_animation([np.zeros(dim, np.float32), np.full(dim, 0.8, np.float32)], seconds_per_code=0.1)
    images, times = [], []

    def update(index: int, t: float) -> None:
        times.append(t)
        scene.instances[0].code = anim(t)
        if index == 4:
            target.should_close = True

    def present_and_keep() -> None:
        HeadlessTarget.present(target)
        images.append(target.read_rgb())

    target.present = present_and_keep  # type: ignore[method-assign]
    stats = run_loop(target, renderer, scene, frames=30, update=update, clock=clock)
    assert stats.frames == 5 and stats.rendered == 5
    assert times == pytest.approx([i / 30 for i in range(5)], abs=1e-6)
    # The code changes over time, so the rendered avatar does too.
    assert not np.array_equal(images[0], images[2])
    renderer.release()
    target.close()
