"""The render loop: poll -> wait frame -> update -> render -> present, on any RenderTarget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from codecav.clock import FrameClock
from codecav.runtime.scene import Scene
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.base import EyeView, RenderTarget

UpdateFn = Callable[[int, float], None]
"""Called once per frame with the frame index and the scene time in seconds, before rendering."""


@dataclass(frozen=True)
class LoopStats:
    """What a run of the render loop did."""

    frames: int
    """Frames begun."""
    rendered: int
    """Frames that had views to draw (an XR runtime may skip some)."""
    late_frames: int
    """Frames the clock reported late."""
    render_ms_p50: float
    """Median update + render + present time of rendered frames."""
    render_ms_p99: float
    """99th percentile of the same."""


def run_loop(
    target: RenderTarget,
    renderer: SceneRenderer,
    scene: Scene,
    frames: int,
    update: UpdateFn | None = None,
    clock: FrameClock | None = None,
) -> LoopStats:
    """Run up to `frames` frames (fewer if the target asks to close). Without a clock the target paces the
    loop (OpenXR's xrWaitFrame, a window's swap) or it runs as fast as it can (headless)."""
    durations = []
    rendered = 0
    start_ns = clock.now_ns() if clock is not None else time.monotonic_ns()
    done = 0
    for index in range(frames):
        if target.should_close:
            break
        if clock is not None:
            timing = clock.wait_frame()
            scene_time = (timing.target_ns - start_ns) / 1e9
        else:
            scene_time = (time.monotonic_ns() - start_ns) / 1e9
        eyes: list[EyeView] = target.begin_frame()
        began = time.perf_counter()
        if update is not None:
            update(index, scene_time)
        if eyes:
            renderer.render(scene, eyes)
            rendered += 1
        target.present()
        if eyes:
            durations.append((time.perf_counter() - began) * 1000.0)
        done = index + 1
    p50, p99 = (np.percentile(durations, [50, 99]) if durations else (0.0, 0.0))
    return LoopStats(done, rendered, clock.late_frames if clock is not None else 0, float(p50), float(p99))
