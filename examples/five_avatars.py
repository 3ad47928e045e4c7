"""Five avatars in one stereo scene (PiCA's headline case), animated through the engine and rendered headless.

Run: python examples/five_avatars.py    (writes out/examples/five_avatars.mp4 and five_avatars.png, eyes side by side)

Each avatar is fed by its own sender thread (an animated latent source) through the engine's one-slot
mailboxes, as remote peers in a call would be. CODECAV_EXAMPLE_SMOKE=1 renders small and short;
CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.encoders.animated_source import AnimatedCodeSource
from codecav.latent import LatentFrame
from codecav.runtime.engine import Engine, LatestFeed, ReceivedFrame, SenderWorker
from codecav.runtime.profiler import Profiler
from codecav.runtime.render_command import HEAD_SPACING_M, random_codes, row_views, sample_avatars
from codecav.runtime.scene import row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.runtime.video import Mp4Writer
from codecav.xr.headless import HeadlessTarget


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples"))
    width, height, frames = (128, 96, 8) if smoke else (480, 360, 90)
    count = 5
    views, _ = row_views(width, height, count, stereo=True)
    target = HeadlessTarget(views)
    renderer = SceneRenderer(target.ctx)
    engine = Engine(target, renderer, Profiler())
    workers = []
    packages = sample_avatars(3)
    for i, transform in enumerate(row_layout(count, HEAD_SPACING_M)):
        package = packages[i % len(packages)]
        feed = LatestFeed()
        engine.add_remote(f"avatar{i}", package, transform, feed)
        source = AnimatedCodeSource(random_codes(package, 4, seed=300 + i), fps=30.0)

        def push(frame: LatentFrame, feed: LatestFeed = feed, peer: str = f"avatar{i}") -> None:
            feed.push(ReceivedFrame(peer, frame, frame.capture_time_us * 1000, time.monotonic_ns()))

        workers.append(SenderWorker(source, push, Profiler()))
    for worker in workers:
        worker.start()
    with Mp4Writer(out_dir / "five_avatars.mp4", 2 * width, height, fps=30) as video:
        last: list[np.ndarray] = []

        def grab(_index: int) -> None:
            last[:] = [np.concatenate([target.read_rgb(0), target.read_rgb(1)], axis=1)]
            video.write(last[0])

        engine.on_presented = grab
        run = engine.run(frames=frames)
    for worker in workers:
        worker.stop()
    Image.fromarray(last[0]).save(out_dir / "five_avatars.png")
    renderer.release()
    target.close()
    seconds = (run.end_ns - run.start_ns) / 1e9
    print(f"rendered {run.frames_rendered} stereo frames of {count} avatars in {seconds:.1f} s "
          f"({run.frames_rendered / seconds:.1f} fps on this machine)")
    print(f"wrote {out_dir / 'five_avatars.mp4'} and {out_dir / 'five_avatars.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
