"""One OpenXR session run in its own process (EGL and GLX must not share a process): renders a known scene
into both eyes for N frames, reads the swapchain images back and writes what it saw as JSON.

    python -m tests.xr_openxr.session_scenario --graphics egl --frames 120 --out result.json
    python -m tests.xr_openxr.session_scenario --graphics glx --scene avatar --frames 30 --out result.json

The quad scene is a flat-coloured square at a known world position; the avatar scene is a sample avatar
(codecav.assets.synthetic.avatar when present, else codecav.decoders.procedural) drawn by the PiCA GL pass.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

import moderngl
import numpy as np

from codecav.camera import project_point
from codecav.clock import FrameClock
from codecav.xr.base import EyeView
from codecav.xr.openxr.config import OpenXRConfig
from codecav.xr.openxr.target import OpenXRTarget

QUAD_CENTRE = np.array([0.0, 0.0, -1.0], np.float32)
"""World (LOCAL space) position of the test quad: 1 m in front of the origin, facing +z."""
QUAD_HALF = 0.15
"""Half the quad's side in metres."""
QUAD_RGB = (230, 40, 200)
"""The quad's colour as stored in the swapchain (sRGB storage, no conversion on write)."""
CLEAR_RGB = (13, 13, 26)
"""Background."""
CHECK_FRAMES = (5, 50, 100)
"""Frames whose swapchain images are read back and checked (quad scene)."""
AVATAR_CHECK_FRAMES = (5, 25)
"""Frames read back and checked in the avatar scene."""
AVATAR_POSITION = np.array([0.0, 0.0, -0.6], np.float32)
"""World position of the avatar's head-space origin: 60 cm in front of the LOCAL origin."""
AVATAR_BACKGROUND = (0.0, 1.0, 0.0)
"""Clear colour of the avatar scene; pixels that differ from it are the avatar."""

_VERTEX = """
#version 330 core
uniform mat4 u_view_projection;
in vec3 in_position;
void main() { gl_Position = u_view_projection * vec4(in_position, 1.0); }
"""
_FRAGMENT = """
#version 330 core
uniform vec3 u_colour;
out vec4 frag;
void main() { frag = vec4(u_colour, 1.0); }
"""


def quad_corners() -> np.ndarray:
    """float32 [4, 3] corners of the test quad in world space."""
    offsets = np.array([[-1, -1, 0], [1, -1, 0], [-1, 1, 0], [1, 1, 0]], np.float32) * QUAD_HALF
    return QUAD_CENTRE + offsets


class QuadScene:
    """A flat-coloured quad at a known world position."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.vbo = ctx.buffer(quad_corners().tobytes())
        self.vao = ctx.vertex_array(self.program, [(self.vbo, "3f", "in_position")])

    def draw(self, eye: EyeView) -> None:
        fb = eye.framebuffer
        fb.use()
        fb.viewport = (0, 0, eye.view.width, eye.view.height)
        r, g, b = (c / 255 for c in CLEAR_RGB)
        fb.clear(color=(r, g, b, 1.0), depth=1.0)
        self.ctx.enable(moderngl.DEPTH_TEST)
        vp = (eye.view.projection @ eye.view.view_matrix).astype(np.float32)
        self.program["u_view_projection"].write(np.ascontiguousarray(vp.T).tobytes())  # type: ignore[union-attr]
        self.program["u_colour"].value = tuple(c / 255 for c in QUAD_RGB)  # type: ignore[union-attr]
        self.vao.render(moderngl.TRIANGLE_STRIP)


class AvatarScene:
    """A sample avatar drawn by PicaRenderer at AVATAR_POSITION."""

    def __init__(self, ctx: moderngl.Context) -> None:
        from codecav.decoders.base import AvatarDraw
        from codecav.decoders.pica_gl import PicaRenderer

        mesh, mlp, info, frame, self.source = _sample_avatar()
        self.renderer = PicaRenderer(ctx)
        self.handle = self.renderer.add_avatar(mesh, mlp, info)
        self.renderer.update(self.handle, frame)
        model = np.eye(4, dtype=np.float32)
        model[:3, 3] = AVATAR_POSITION
        self.draw_list = [AvatarDraw(self.handle, model)]
        self.world_vertices = np.asarray(frame.geometry, np.float32) + AVATAR_POSITION

    def draw(self, eye: EyeView) -> None:
        self.renderer.render(eye, self.draw_list, background=AVATAR_BACKGROUND)


def _sample_avatar() -> tuple[Any, Any, Any, Any, str]:
    """(mesh, mlp, feature_info, decoded frame, source) of the sample avatar: the synthetic AvatarPackage
    decoded once by its ONNX decoder when codecav.assets.synthetic.avatar exists, else the procedural one."""
    try:
        from codecav.assets.synthetic.avatar import build_synthetic_avatar  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from codecav.decoders.procedural import procedural_avatar

        proc = procedural_avatar(0)
        return proc.mesh, proc.mlp, proc.feature_info, proc.frame, "codecav.decoders.procedural"
    from codecav.decoders.neural import OnnxNeuralDecoder

    package = build_synthetic_avatar(seed=0)
    code = (np.random.default_rng(0).standard_normal(package.manifest.latent.dim) * 0.5).astype(np.float32)
    # The head faces +z (codecav.latent.HeadPose) and the viewer is at the origin, +z of the avatar.
    frame = OnnxNeuralDecoder(package.decoder_onnx).decode(code, np.array([0.0, 0.0, 1.0], np.float32))
    return package.mesh, package.pixel_mlp, package.manifest.feature_map, frame, "codecav.assets.synthetic.avatar"


def _swapchain_depth(target: OpenXRTarget, index: int, w: int, h: int) -> np.ndarray:
    """The current depth swapchain image of eye `index` after the copy present() makes, top row first."""
    eye = target._eyes[index]
    assert target._depth_copier is not None and eye.acquired is not None
    depth_fb = eye.depth_framebuffers[eye.acquired[1]]
    target._depth_copier.copy(eye.placeholder_depth, depth_fb)
    raw = depth_fb.read(components=1, attachment=-1, dtype="f4", alignment=1)
    return np.frombuffer(raw, np.float32).reshape(h, w)[::-1].astype(np.float64)


def _check_eye(target: OpenXRTarget, index: int, eye: EyeView, scene: QuadScene | AvatarScene) -> dict[str, Any]:
    """Where the scene should be (its projected world points) against where it is in the read-back image."""
    image = target.read_rgb(index).astype(np.int16)
    vp = eye.view.projection @ eye.view.view_matrix
    w, h = eye.view.width, eye.view.height
    if isinstance(scene, QuadScene):
        points, centre_world = quad_corners(), QUAD_CENTRE
        mask = np.abs(image - np.array(QUAD_RGB, np.int16)).max(axis=2) <= 2
    else:
        points, centre_world = scene.world_vertices, AVATAR_POSITION
        background = np.array([round(c * 255) for c in AVATAR_BACKGROUND], np.int16)
        mask = np.abs(image - background).max(axis=2) > 2
    corners = np.array([project_point(vp, c, w, h) for c in points])
    centre = project_point(vp, centre_world, w, h)
    ys, xs = np.nonzero(mask)
    observed = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
    cx, cy = int(centre[0]), int(centre[1])
    inside = 0 <= cx < w and 0 <= cy < h
    depth = target.read_depth(index)
    clip = vp.astype(np.float64) @ np.append(centre_world.astype(np.float64), 1.0)
    return {
        "eye": index,
        "expected_bbox": [float(corners[:, 0].min()), float(corners[:, 1].min()),
                          float(corners[:, 0].max()), float(corners[:, 1].max())],
        "observed_bbox": observed,
        "expected_centre": [float(centre[0]), float(centre[1])],
        "centre_rgb": image[cy, cx].tolist() if inside else None,
        "corner_rgb": image[0, 0].tolist(),
        "centre_depth": float(depth[cy, cx]) if inside else None,
        "expected_centre_depth": float((clip[2] / clip[3] + 1.0) / 2.0),
        "corner_depth": float(depth[0, 0]),
        # What present() puts into the depth swapchain image (the copy from the rendered depth), read back.
        "swapchain_depth_centre": _swapchain_depth(target, index, w, h)[cy, cx] if inside else None,
        "scene_pixels": int(mask.sum()),
        "eye_position": eye.view.eye_position.tolist(),
    }


def run(graphics: str, frames: int, scene_name: str = "quad") -> dict[str, Any]:
    """Open the target, render `frames` frames of a scene with two views, close, and report."""
    t0 = time.monotonic()
    clock = FrameClock(period_ns=1_000_000_000 // 90)
    target = OpenXRTarget(OpenXRConfig(graphics=graphics), clock=clock)
    created_s = time.monotonic() - t0
    scene: QuadScene | AvatarScene = QuadScene(target.ctx) if scene_name == "quad" else AvatarScene(target.ctx)
    check_frames = CHECK_FRAMES if scene_name == "quad" else AVATAR_CHECK_FRAMES
    checks: list[dict[str, Any]] = []
    head_positions: list[list[float]] = []
    two_view_frames = 0
    late_indices: list[int] = []
    predicted_ahead_ms: list[float] = []
    loops = 0
    try:
        while two_view_frames < frames and loops < frames * 4:
            loops += 1
            eyes = target.begin_frame()
            if len(eyes) == 2:
                predicted_ahead_ms.append((target.predicted_display_ns - time.monotonic_ns()) / 1e6)
                for eye in eyes:
                    scene.draw(eye)
                if two_view_frames in check_frames:
                    for index, eye in enumerate(eyes):
                        checks.append({"frame": two_view_frames, **_check_eye(target, index, eye, scene)})
                if target.head_pose is not None:
                    head_positions.append(target.head_pose.position.tolist())
                two_view_frames += 1
            target.present()
            if eyes and time.monotonic_ns() > target.predicted_display_ns:
                late_indices.append(two_view_frames - 1)
        states_running = list(target.session_states)
        converter = target.time_converter
        now = time.monotonic_ns()
        roundtrip_ns = converter.to_monotonic_ns(converter.from_monotonic_ns(now)) - now if converter else None
        result: dict[str, Any] = {
            "graphics": graphics,
            "scene": scene_name,
            "avatar_source": scene.source if isinstance(scene, AvatarScene) else None,
            "system_name": target.system_name,
            "created_s": created_s,
            "frames_with_two_views": two_view_frames,
            "eye_size": list(target.eye_size()),
            "color_format": target.color_format,
            "depth_submitted": target.depth_submitted,
            "notes": list(target.notes),
            "gaze": None if target.gaze is None else target.gaze.left.tolist(),
            "timing": asdict(target.timing_stats()),
            "timing_summary": target.timing_stats().summary(),
            "clock_period_ns": clock.period_ns,
            "predicted_ahead_ms": [float(np.min(predicted_ahead_ms)), float(np.median(predicted_ahead_ms)),
                                   float(np.max(predicted_ahead_ms))]
            if predicted_ahead_ms else None,
            "timespec_roundtrip_ns": roundtrip_ns,
            "head_positions": head_positions,
            "checks": checks,
            "late_frame_indices": late_indices,
            "states_running": states_running,
        }
    finally:
        t1 = time.monotonic()
        target.close()
    result["close_s"] = time.monotonic() - t1
    result["states_after_close"] = list(target.session_states)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--graphics", choices=["egl", "glx"], required=True)
    parser.add_argument("--scene", choices=["quad", "avatar"], default="quad")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = run(args.graphics, args.frames, args.scene)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
