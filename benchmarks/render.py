"""Frame time of PiCA per-pixel decoding vs the DAM full-texture baseline, by screen coverage.

    .venv/bin/python benchmarks/render.py --json

Times whole frames (update: geometry + feature upload of every avatar; render; ctx.finish()) at
512 x 512 on a headless EGL context, median over --frames frames after warm-up. Avatars are placed
(camera distance, screen offsets) so that the measured covered-pixel fraction matches each case.
The neural (ONNX) decode is not timed: it is the same for both renderers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp  # noqa: E402
from codecav.camera import (  # noqa: E402
    View,  # noqa: E402
    look_at,
    perspective,
    translation,
)
from codecav.decoders.base import AvatarDraw, AvatarRenderer, DecodedFrame  # noqa: E402
from codecav.decoders.full_texture import FullTextureOptions, FullTextureRenderer  # noqa: E402
from codecav.decoders.pica_gl import PicaOptions, PicaRenderer  # noqa: E402
from codecav.decoders.procedural import procedural_avatar  # noqa: E402
from codecav.xr.headless import HeadlessTarget, create_headless_context  # noqa: E402

FOVY_DEG = 35.0


@dataclass(frozen=True)
class BenchAvatar:
    """What the renderers need, whichever source it came from."""

    mesh: MeshTopology
    mlp: PixelMlp
    feature_info: FeatureMapInfo
    frame: DecodedFrame
    source: str


def load_avatar(kind: str) -> BenchAvatar:
    """'synthetic': codecav.assets.synthetic.avatar (decoded once through its ONNX decoder); 'procedural': NumPy."""
    if kind == "synthetic":
        from codecav.assets.synthetic.avatar import build_synthetic_avatar
        from codecav.decoders.neural import OnnxNeuralDecoder

        package = build_synthetic_avatar(seed=0)
        latent = np.zeros(package.manifest.latent.dim, np.float32)
        frame = OnnxNeuralDecoder(package.decoder_onnx).decode(latent, np.array([0.0, 0.0, 1.0], np.float32))
        return BenchAvatar(package.mesh, package.pixel_mlp, package.manifest.feature_map, frame,
                           "codecav.assets.synthetic.avatar.build_synthetic_avatar(seed=0)")
    avatar = procedural_avatar(0, channels=8, feature_size=256, hidden=(16, 16), uv_frequencies=4, rings=48,
                               segments=64)
    return BenchAvatar(avatar.mesh, avatar.mlp, avatar.feature_info, avatar.frame,
                       "codecav.decoders.procedural.procedural_avatar(0, C=8, 256x256, hidden=(16,16), L=4)")


def camera(size: int, distance: float) -> View:
    """Camera on +z at `distance` looking at the origin."""
    return View(look_at(np.array([0.0, 0.0, distance]), np.zeros(3)), perspective(FOVY_DEG, 1.0, 0.01, 50.0),
                size, size)


def screen_to_plane(px: float, py: float, size: int, distance: float) -> np.ndarray:
    """Head->world translation putting the head origin (on the z=0 plane) at pixel (px, py)."""
    half = distance * np.tan(np.radians(FOVY_DEG) / 2)
    return translation((px / size * 2 - 1) * half, (1 - py / size * 2) * half, 0.0)


def layout(count: int, size: int, distance: float) -> list[np.ndarray]:
    """Models for 1 head (centre) or 5 heads (3 on top, 2 below), not overlapping on screen."""
    if count == 1:
        return [np.eye(4, dtype=np.float32)]
    spots = [(size / 6, size * 0.27), (size / 2, size * 0.27), (size * 5 / 6, size * 0.27),
             (size / 3, size * 0.73), (size * 2 / 3, size * 0.73)][:count]
    return [screen_to_plane(x, y, size, distance) for x, y in spots]


class Scene:
    """A renderer with `count` copies of the avatar placed for one benchmark case."""

    def __init__(self, renderer: AvatarRenderer, avatar: BenchAvatar, count: int) -> None:
        self.renderer = renderer
        self.avatar = avatar
        self.handles = [renderer.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info) for _ in range(count)]

    def frame(self, target: HeadlessTarget, models: Sequence[np.ndarray]) -> None:
        """One timed unit: update every avatar, render, finish."""
        for handle in self.handles:
            self.renderer.update(handle, self.avatar.frame)
        draws = [AvatarDraw(h, m) for h, m in zip(self.handles, models, strict=True)]
        self.renderer.render(target.begin_frame()[0], draws, background=(0.1, 0.1, 0.1))
        target.ctx.finish()

    def release(self) -> None:
        self.renderer.release()


def coverage(ctx: moderngl.Context, avatar: BenchAvatar, count: int, size: int, distance: float) -> float:
    """Measured fraction of covered pixels for `count` heads at camera `distance`."""
    target = HeadlessTarget([camera(size, distance)], ctx=ctx)
    scene = Scene(PicaRenderer(ctx), avatar, count)
    scene.frame(target, layout(count, size, distance))
    fraction = float(np.mean(target.read_depth(0) < 1.0))
    scene.release()
    target.close()
    return fraction


def distance_for(ctx: moderngl.Context, avatar: BenchAvatar, count: int, size: int, goal: float) -> float:
    """Camera distance whose measured coverage is `goal` (bisection on log distance)."""
    lo, hi = 0.05, 20.0  # coverage falls with distance
    for _ in range(22):
        mid = float(np.sqrt(lo * hi))
        if coverage(ctx, avatar, count, size, mid) > goal:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


@dataclass
class Case:
    """One benchmark case, set up and ready to time."""

    target: HeadlessTarget
    scene: Scene
    models: list[np.ndarray]
    times: list[float]


def time_cases(ctx: moderngl.Context, specs: dict[str, tuple[Callable[[], AvatarRenderer], int, float]],
               avatar: BenchAvatar, size: int, frames: int, warmup: int) -> dict[str, dict[str, float]]:
    """Median/p10/p90 whole-frame ms and measured coverage per case. Cases are timed round-robin, one
    frame each in turn, so background load on a shared machine falls on all of them alike."""
    cases = {}
    for name, (make, count, distance) in specs.items():
        case = Case(HeadlessTarget([camera(size, distance)], ctx=ctx), Scene(make(), avatar, count),
                    layout(count, size, distance), [])
        for _ in range(warmup):
            case.scene.frame(case.target, case.models)
        cases[name] = case
    for _ in range(frames):
        for case in cases.values():
            start = time.perf_counter()
            case.scene.frame(case.target, case.models)
            case.times.append((time.perf_counter() - start) * 1000.0)
    results = {}
    for name, case in cases.items():
        covered = float(np.mean(case.target.read_depth(0) < 1.0))
        case.scene.release()
        case.target.close()
        q = np.percentile(case.times, [10, 90])
        results[name] = {"median_ms": statistics.median(case.times), "p10_ms": float(q[0]), "p90_ms": float(q[1]),
                         "coverage": covered}
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    parser.add_argument("--frames", type=int, default=30, help="timed frames per case (>= 20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--texture-size", type=int, default=1024, help="full-texture baseline UV texture side")
    parser.add_argument("--avatar", choices=["auto", "synthetic", "procedural"], default="auto")
    parser.add_argument("--precision", choices=["f16", "f32"], default="f32", help="feature texture format")
    args = parser.parse_args(argv)

    kind = args.avatar
    if kind == "auto":
        try:
            import codecav.assets.synthetic.avatar  # noqa: F401
            kind = "synthetic"
        except ImportError:
            kind = "procedural"
    avatar = load_avatar(kind)
    load_before = os.getloadavg()
    ctx = create_headless_context()
    size = args.size
    d50 = distance_for(ctx, avatar, 1, size, 0.50)
    d5 = distance_for(ctx, avatar, 1, size, 0.05)
    d10x5 = distance_for(ctx, avatar, 5, size, 0.50)

    def pica(shading: str = "deferred", precision: str = args.precision) -> Callable[[], AvatarRenderer]:
        return lambda: PicaRenderer(ctx, PicaOptions(feature_precision=precision, shading=shading))

    other_precision = "f16" if args.precision == "f32" else "f32"

    def full() -> AvatarRenderer:
        return FullTextureRenderer(ctx, FullTextureOptions(texture_size=args.texture_size,
                                                           feature_precision=args.precision))

    cases = {
        "pica_1_avatar_50pct": (pica(), 1, d50),
        "pica_5_avatars_10pct_each": (pica(), 5, d10x5),
        "pica_1_avatar_5pct": (pica(), 1, d5),
        "full_texture_1_avatar_5pct": (full, 1, d5),
        "full_texture_1_avatar_50pct": (full, 1, d50),
        "pica_prepass_1_avatar_50pct": (pica("prepass"), 1, d50),
        "pica_prepass_5_avatars_10pct_each": (pica("prepass"), 5, d10x5),
        "pica_prepass_1_avatar_5pct": (pica("prepass"), 1, d5),
        "pica_forward_1_avatar_50pct": (pica("forward"), 1, d50),
        f"pica_{other_precision}_1_avatar_50pct": (pica(precision=other_precision), 1, d50),
        f"pica_{other_precision}_5_avatars_10pct_each": (pica(precision=other_precision), 5, d10x5),
    }
    results = time_cases(ctx, cases, avatar, size, args.frames, args.warmup)
    ms = {name: r["median_ms"] for name, r in results.items()}
    mlp = avatar.mlp
    report = {
        "pica_ms_1_avatar_50pct": ms["pica_1_avatar_50pct"],
        "pica_ms_5_avatars_10pct_each": ms["pica_5_avatars_10pct_each"],
        "pica_ms_1_avatar_5pct": ms["pica_1_avatar_5pct"],
        "full_texture_ms_1_avatar_5pct": ms["full_texture_1_avatar_5pct"],
        "full_texture_ms_1_avatar_50pct": ms["full_texture_1_avatar_50pct"],
        "pica_prepass_ms_1_avatar_50pct": ms["pica_prepass_1_avatar_50pct"],
        "pica_prepass_ms_5_avatars_10pct_each": ms["pica_prepass_5_avatars_10pct_each"],
        "pica_prepass_ms_1_avatar_5pct": ms["pica_prepass_1_avatar_5pct"],
        "pica_forward_ms_1_avatar_50pct": ms["pica_forward_1_avatar_50pct"],
        "prepass_five_over_one_equal_coverage": ms["pica_prepass_5_avatars_10pct_each"]
        / ms["pica_prepass_1_avatar_50pct"],
        f"{other_precision}_five_over_one_equal_coverage": ms[f"pica_{other_precision}_5_avatars_10pct_each"]
        / ms[f"pica_{other_precision}_1_avatar_50pct"],
        "five_over_one_equal_coverage": ms["pica_5_avatars_10pct_each"] / ms["pica_1_avatar_50pct"],
        "pica_over_full_texture_at_5pct": ms["pica_1_avatar_5pct"] / ms["full_texture_1_avatar_5pct"],
        "goals": {"pica_over_full_texture_at_5pct_max": 0.3, "five_over_one_equal_coverage_max": 1.3},
        "setup": {
            "renderers": ["pica (PicaOptions.shading='deferred' unless the key says prepass/forward)",
                          "full_texture"],
            "gl_renderer": str(ctx.info["GL_RENDERER"]),
            "gl_version": str(ctx.info["GL_VERSION"]),
            "image": [size, size],
            "full_texture_size": [args.texture_size, args.texture_size],
            "avatar": avatar.source,
            "mesh": {"render_vertices": int(len(avatar.mesh.uv)), "triangles": int(len(avatar.mesh.faces))},
            "feature_map": [avatar.feature_info.height, avatar.feature_info.width, avatar.feature_info.channels],
            "feature_precision": args.precision,
            "mlp": {"input": mlp.input_size, "layers": [list(w.shape) for w in mlp.weights],
                    "activation": mlp.activation, "uv_frequencies": mlp.uv_frequencies},
            "frames": args.frames,
            "warmup": args.warmup,
            "timed": "update (geometry + features of every avatar) + render + ctx.finish(); median; cases "
                     "interleaved frame by frame",
            "camera_distance_m": {"1_avatar_50pct": d50, "1_avatar_5pct": d5, "5_avatars_10pct_each": d10x5},
            "cases": results,
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count(),
        },
    }
    ctx.release()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, r in results.items():
            print(f"{name:42s} {r['median_ms']:8.2f} ms  coverage {r['coverage']:.3f}")
        print(f"five_over_one_equal_coverage   {report['five_over_one_equal_coverage']:.3f}")
        print(f"pica_over_full_texture_at_5pct {report['pica_over_full_texture_at_5pct']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
