"""Headless (EGL) and window (GLFW on Xvfb) render targets: views, framebuffers, readback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import moderngl
import numpy as np
import pytest

from codecav.runtime.scene import camera_views
from codecav.xr.errors import RenderTargetError
from codecav.xr.headless import HeadlessTarget
from codecav.xr.window import WindowTarget

pytestmark = pytest.mark.gl


def test_headless_stereo_views_have_own_framebuffers(gl_ctx: moderngl.Context) -> None:
    target = HeadlessTarget(camera_views(40, 30, stereo=True), ctx=gl_ctx)
    eyes = target.begin_frame()
    assert len(eyes) == 2
    for ev, colour in zip(eyes, [(1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)], strict=True):
        ev.framebuffer.use()
        gl_ctx.clear(*colour)
    target.present()
    left, right = target.read_rgb(0), target.read_rgb(1)
    assert left.shape == (30, 40, 3)
    assert (left[..., 0] == 255).all() and (left[..., 2] == 0).all()
    assert (right[..., 2] == 255).all() and (right[..., 0] == 0).all()
    assert target.frames_presented == 1
    target.close()


def test_headless_readback_is_top_row_first(gl_ctx: moderngl.Context) -> None:
    target = HeadlessTarget(camera_views(16, 8), ctx=gl_ctx)
    [ev] = target.begin_frame()
    ev.framebuffer.use()
    gl_ctx.clear(0.0, 0.0, 0.0, 1.0)
    # Clear only the top half (GL's origin is bottom-left, so rows 4..7 in GL terms) to white.
    gl_ctx.scissor = (0, 4, 16, 4)
    gl_ctx.clear(1.0, 1.0, 1.0, 1.0)
    gl_ctx.scissor = None
    image = target.read_rgb()
    assert (image[:4] == 255).all() and (image[4:] == 0).all()
    target.close()


def test_stereo_eyes_are_separated_by_ipd() -> None:
    left, right = camera_views(32, 32, eye=(0.0, 0.0, 1.0), stereo=True, ipd=0.064)
    distance = np.linalg.norm(left.eye_position - right.eye_position)
    assert distance == pytest.approx(0.064, abs=1e-5)
    assert left.eye_position[0] < right.eye_position[0]


WINDOW_SCRIPT = """
import numpy as np
from codecav.runtime.scene import camera_views
from codecav.xr.errors import RenderTargetError
from codecav.xr.window import WindowTarget
target = WindowTarget(camera_views(40, 30, stereo=True), visible=False)
for ev, colour in zip(target.begin_frame(), [(1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0)]):
    ev.framebuffer.use()
    target.ctx.clear(*colour)
target.compose()
np.save(OUT, target.read_window_rgb())
target.present()
assert target.frames_presented == 1
target.close()
"""


def test_window_target_shows_stereo_side_by_side(x_display: str, tmp_path: Path) -> None:
    # A GLX window and this session's EGL context cannot share a process under Mesa, so the window
    # runs in a child process on the session's Xvfb.
    out = tmp_path / "window.npy"
    script = f"OUT = {str(out)!r}\n" + WINDOW_SCRIPT
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    window = np.load(out)
    assert window.shape == (30, 80, 3)
    assert (window[:, :38, 0] > 250).all() and (window[:, :38, 1] < 5).all()
    assert (window[:, 42:, 1] > 250).all() and (window[:, 42:, 0] < 5).all()


def test_window_target_without_display_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RenderTargetError, match="Xvfb"):
        WindowTarget(camera_views(8, 8))
