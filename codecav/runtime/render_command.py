"""`codecav render`: place N avatar instances in a scene, render one frame headless, write a PNG."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.camera import View
from codecav.clock import MONOTONIC, Clock
from codecav.errors import CodecavError
from codecav.runtime.scene import AvatarInstance, Scene, camera_views, row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.headless import HeadlessTarget

MAX_INSTANCES = 16
"""More instances than this is refused (the CLI's documented range)."""

HEAD_SPACING_M = 0.3
"""Distance between neighbouring heads in a row."""
CALL_FOVY_DEG = 35.0
"""Vertical field of view of a call's (and the demo's) flat view."""


class RenderRequestError(CodecavError):
    """A render request cannot be carried out as asked."""


@dataclass(frozen=True)
class RenderRequest:
    """What `codecav render` was asked to do."""

    avatar_paths: list[Path]
    """Avatar packages to cycle through; empty means the sample avatars."""
    count: int
    """Number of avatar instances."""
    width: int
    """Image width per view, pixels."""
    height: int
    """Image height, pixels."""
    stereo: bool
    """Render two eyes and write them side by side."""
    renderer: str
    """'pica' or 'full_texture'."""
    out: Path
    """PNG to write."""
    threads: int = 1
    """onnxruntime threads."""
    seed: int = 0
    """Seed of the random latent codes."""


@dataclass(frozen=True)
class RenderResult:
    """What was written and how it went."""

    path: Path
    """The PNG written."""
    width: int
    """Image width (both eyes when stereo)."""
    height: int
    """Image height."""
    avatars: int
    """Instances drawn."""
    covered_fraction: float
    """Fraction of pixels covered by an avatar (depth < 1), over all views."""
    frame_ms: float
    """Wall time of one full frame (decode + update + render + finish) after a warm-up frame."""
    gl_renderer: str
    """GL_RENDERER of the context used."""


def shipped_sample_paths() -> list[Path]:
    """The trained sample avatars this installation ships (empty where a checkout has none)."""
    try:
        from codecav.assets.samples import sample_avatar_paths
    except ImportError:
        return []
    return sample_avatar_paths()


def sample_avatars(count: int = 3) -> list[AvatarPackage]:
    """The avatars used when none is given: the shipped trained samples (cycled to `count`), or random-weight
    plumbing avatars where a checkout has none."""
    paths = shipped_sample_paths()
    if paths:
        loaded = [load_avatar(p) for p in paths]
        return [loaded[i % len(loaded)] for i in range(count)]
    return [build_synthetic_avatar(seed=i) for i in range(count)]


def framing_distance(row_width_m: float, fovy_deg: float, aspect: float, margin: float = 1.25) -> float:
    """Camera distance at which a row `row_width_m` wide (and one head tall) fits the view."""
    half_v = math.radians(fovy_deg) / 2
    half_h = math.atan(math.tan(half_v) * aspect)
    need_h = (row_width_m / 2) / math.tan(half_h)
    need_v = 0.16 / math.tan(half_v)
    return max(need_h, need_v) * margin


def row_width_m(count: int) -> float:
    """Width of a row of `count` heads HEAD_SPACING_M apart (one head ~0.25 m wide)."""
    return max(count - 1, 0) * HEAD_SPACING_M + 0.25


def row_views(width: int, height: int, count: int, *, stereo: bool = False) -> tuple[list[View], float]:
    """The views (camera_views, CALL_FOVY_DEG) of a camera at (0, 0, d) looking down -z that frames a row of `count`
    heads (framing_distance: a lone head about half the view's height), and d. What `codecav call`, the demo, the
    profiler and `codecav render` all look through."""
    distance = framing_distance(row_width_m(count), CALL_FOVY_DEG, width / height)
    return camera_views(width, height, eye=(0.0, 0.0, distance), fovy_deg=CALL_FOVY_DEG, stereo=stereo), distance


def framed_row(count: int, camera_distance: float, fovy_deg: float, aspect: float) -> list[np.ndarray]:
    """Head->world transforms of `count` heads in a row centred before a fixed camera at (0, 0,
    `camera_distance`) looking down -z, brought as close as the row still fits: a lone head fills about half the
    view's height, several share its width (framing_distance). The camera stays where it is, so a view set up
    for a full row needs no change when people come and go."""
    depth = camera_distance - framing_distance(row_width_m(count), fovy_deg, aspect)
    return row_layout(count, HEAD_SPACING_M, depth=depth)


def random_codes(package: AvatarPackage, count: int, seed: int) -> list[np.ndarray]:
    """`count` latent codes drawn from N(0, 0.5^2), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    dim = package.manifest.latent.dim
    return [(rng.standard_normal(dim) * 0.5).astype(np.float32) for _ in range(count)]


def render_to_png(request: RenderRequest, *, clock: Clock = MONOTONIC) -> RenderResult:
    """Carry out a render request; RenderRequestError or AvatarFormatError on bad input. `clock` times the
    frame (RenderResult.frame_ms)."""
    if not 1 <= request.count <= MAX_INSTANCES:
        raise RenderRequestError(f"--avatars {request.count} is out of range; use 1..{MAX_INSTANCES}")
    if request.out.suffix.lower() != ".png":
        raise RenderRequestError(f"--out {request.out} must end in .png")
    packages = [load_avatar(p) for p in request.avatar_paths] or sample_avatars()
    views, _ = row_views(request.width, request.height, request.count, stereo=request.stereo)
    target = HeadlessTarget(views)
    try:
        scene_renderer = SceneRenderer(target.ctx, renderer=request.renderer, threads=request.threads)
        for i, package in enumerate(packages):
            scene_renderer.add_avatar(f"avatar{i}", package)
        scene = Scene()
        transforms = row_layout(request.count, spacing=HEAD_SPACING_M)
        for i, transform in enumerate(transforms):
            key = f"avatar{i % len(packages)}"
            code = random_codes(packages[i % len(packages)], 1, request.seed + i)[0]
            scene.instances.append(AvatarInstance(key, transform, code))
        frame_ms = 0.0
        for _ in range(2):  # the first frame compiles shaders and allocates; time the second
            start_ns = clock.now_ns()
            scene_renderer.render(scene, target.begin_frame())
            target.present()
            frame_ms = (clock.now_ns() - start_ns) / 1e6
        images = [target.read_rgb(i) for i in range(len(views))]
        covered = float(np.mean([np.mean(target.read_depth(i) < 1.0) for i in range(len(views))]))
        gl_renderer = str(target.ctx.info["GL_RENDERER"])
    finally:
        target.close()
    image = np.concatenate(images, axis=1)
    request.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(request.out)
    return RenderResult(request.out, image.shape[1], image.shape[0], request.count, covered, frame_ms, gl_renderer)
