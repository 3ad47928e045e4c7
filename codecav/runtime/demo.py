"""`codecav demo`: the main job. Until the two-party call demo lands (issue 6/6), it writes the sample
avatars as packages, verifies them, and renders them headless into PNGs under the output folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from codecav.assets.inspect import verify_summary
from codecav.assets.package import AvatarPackage
from codecav.assets.writer import write_avatar
from codecav.runtime.live_view import code_animation, run_loop
from codecav.runtime.render_command import (
    HEAD_SPACING_M,
    RenderRequest,
    framing_distance,
    random_codes,
    render_to_png,
    sample_avatars,
)
from codecav.runtime.scene import AvatarInstance, Scene, camera_views, row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.openxr_select import open_best_target


def run_demo(out_dir: Path, xr: bool = False, window: bool = False, live_frames: int = 150) -> Iterator[str]:
    """Run the demo, yielding one progress line at a time; the last lines say where results are.

    With `xr` (or `window`) it first shows the avatars live for `live_frames` frames on the best target
    available, saying in one line which it chose and why (no OpenXR runtime -> window or headless)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    yield "codecav demo: no trained sample avatars ship yet; using random-weight plumbing avatars (untrained)"
    paths = []
    packages = sample_avatars()
    for package in packages:
        path = write_avatar(package, out_dir / "avatars" / f"{package.manifest.avatar_id}.cavatar")
        yield f"  {verify_summary(path)}"
        paths.append(path)
    if xr or window:
        yield from _live(packages, xr, live_frames)
    results = []
    for name, count, stereo in (("demo.png", 3, False), ("demo_five_stereo.png", 5, True)):
        request = RenderRequest(avatar_paths=paths, count=count, width=512, height=384, stereo=stereo,
                                renderer="pica", out=out_dir / name)
        result = render_to_png(request)
        results.append(result)
        yield (f"  rendered {count} avatar(s){' in stereo' if stereo else ''}: {result.frame_ms:.0f} ms/frame, "
               f"{result.covered_fraction:.0%} of pixels covered, on {result.gl_renderer}")
    summary = [{**asdict(r), "path": str(r.path)} for r in results]
    (out_dir / "render.json").write_text(json.dumps(summary, indent=2) + "\n")
    for r in results:
        yield f"wrote {r.path}"
    yield f"wrote {out_dir / 'render.json'}"


def _live(packages: list[AvatarPackage], xr: bool, frames: int) -> Iterator[str]:
    """Show the sample avatars, animated, on OpenXR / a window / headless, whichever opens first."""
    count = len(packages)
    distance = framing_distance((count - 1) * HEAD_SPACING_M + 0.25, 35.0, 4 / 3)
    views = camera_views(640, 480, eye=(0.0, 0.0, distance), fovy_deg=35.0)
    target, note = open_best_target(views, prefer_xr=xr)
    yield f"  display: {note}"
    try:
        renderer = SceneRenderer(target.ctx)
        scene = Scene()
        # Under OpenXR the viewer stands at the origin looking along -z: place the heads 1 m ahead.
        depth = -1.0 if type(target).__name__ == "OpenXRTarget" else 0.0
        animations = []
        for i, (package, transform) in enumerate(zip(packages, row_layout(count, HEAD_SPACING_M, depth), strict=True)):
            renderer.add_avatar(f"avatar{i}", package)
            codes = random_codes(package, 4, seed=100 + i)
            animations.append(code_animation(codes))
            scene.instances.append(AvatarInstance(f"avatar{i}", transform, codes[0]))

        def update(_index: int, t: float) -> None:
            for instance, anim in zip(scene.instances, animations, strict=True):
                instance.code = anim(t)

        stats = run_loop(target, renderer, scene, frames, update=update)
        yield (f"  live: {stats.rendered}/{stats.frames} frames rendered, "
               f"p50 {stats.render_ms_p50:.1f} ms, p99 {stats.render_ms_p99:.1f} ms per frame")
        renderer.release()
    finally:
        target.close()
