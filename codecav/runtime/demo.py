"""`codecav demo`: the main job. With --xr and an OpenXR headset, alice's side of the call runs in the headset (her
head drives her avatar, bob sits across the table); without one, or with --window, it says why and shows the
avatars live first (a desktop window or headless). Then it runs the two-party call demo
(codecav.runtime.call_demo): two processes on loopback through the built-in signaling server, each a sample avatar
driven by its recorded clip with voice, each rendering the other; it writes demo.mp4, trace.json, report.json and
report.html under the output folder."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage
from codecav.assets.samples import demo_sample_paths
from codecav.runtime.call_demo import PEER_NAMES, run_call_demo
from codecav.runtime.engine import AnimatedFeed, Engine
from codecav.runtime.profiler import Profiler
from codecav.runtime.render_command import (
    HEAD_SPACING_M,
    random_codes,
    row_views,
    sample_avatars,
)
from codecav.runtime.scene import row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.openxr.target import OpenXRTarget
from codecav.xr.select import open_best_target


def run_demo(out_dir: Path, xr: bool = False, window: bool = False, live_frames: int = 150,
             seconds: float = 12.0, *, peer_command: Sequence[str],
             avatars: Sequence[Path] | None = None) -> Iterator[str]:
    """Run the demo, yielding one progress line at a time; the last lines summarise and say where results are.
    With `xr` (or `window`) it first shows the avatars live for `live_frames` frames on the best target
    available, saying in one line which it chose and why (no OpenXR runtime -> window or headless).
    `peer_command` starts a participant process (see run_call_demo); `avatars` are the participants' packages
    (default: the shipped DEMO_PAIR)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    headset_peer = None
    if xr or window:
        if (yield from _live(cast_avatars(avatars), xr, live_frames)):
            headset_peer = PEER_NAMES[0]
    yield from run_call_demo(out_dir, seconds=seconds, peer_command=peer_command, headset_peer=headset_peer,
                             avatars=avatars)


def cast_avatars(avatars: Sequence[Path] | None = None) -> list[AvatarPackage]:
    """The participants' avatars, loaded, for the live preview: `avatars`, or the shipped DEMO_PAIR, or
    random-weight plumbing avatars where a checkout has no samples."""
    paths = list(avatars) if avatars is not None else demo_sample_paths()[:2]
    return [load_avatar(p) for p in paths] if paths else sample_avatars(2)


def _live(packages: list[AvatarPackage], xr: bool, frames: int) -> Generator[str, None, bool]:
    """Show the sample avatars, animated, on a window / headless, whichever opens first; True (and nothing shown)
    when an OpenXR headset answers: the call itself then runs in it."""
    count = len(packages)
    views, _ = row_views(640, 480, count)
    target, note = open_best_target(views, prefer_xr=xr)
    yield f"  display: {note}"
    if isinstance(target, OpenXRTarget):
        target.close()  # the participant opens its own session
        yield f"  the call runs in the headset for {PEER_NAMES[0]}; {PEER_NAMES[1]} stays headless"
        return True
    try:
        renderer = SceneRenderer(target.ctx)
        # The target paces the loop (xrWaitFrame, a window's swap; headless runs as fast as it can).
        engine = Engine(target, renderer, Profiler())
        for i, (package, transform) in enumerate(zip(packages, row_layout(count, HEAD_SPACING_M), strict=True)):
            engine.add_remote(f"avatar{i}", package, transform,
                              AnimatedFeed(f"avatar{i}", random_codes(package, 4, seed=100 + i)))
        engine.prepare(views)
        run = engine.run(frames=frames)
        yield (f"  live: {run.frames_rendered}/{run.frames} frames rendered, "
               f"p50 {run.frame_ms_percentile(50):.1f} ms, p99 {run.frame_ms_percentile(99):.1f} ms per frame")
        renderer.release()
    finally:
        target.close()
    return False
