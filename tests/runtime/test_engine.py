"""The engine: one-slot back-pressure, the network thread, sender workers and the render loop on llvmpipe."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

import moderngl
import numpy as np
import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.encoders.animated_source import AnimatedCodeSource
from codecav.encoders.base import LatentSource
from codecav.latent import LatentFrame
from codecav.runtime.engine import Engine, LatestFeed, LatestSlot, NetworkThread, ReceivedFrame, SenderWorker
from codecav.runtime.profiler import Profiler, ProfilerOptions
from codecav.runtime.scene import camera_views, row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.headless import HeadlessTarget


def test_latest_slot_keeps_the_newest_and_counts_what_it_dropped() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take() is None
    for i in range(5):
        slot.put(i)
    assert slot.take() == 4
    assert slot.take() is None
    assert slot.overwritten == 4


def test_network_thread_runs_coroutines_and_cancels_leftovers_on_stop() -> None:
    net = NetworkThread()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def add(a: int, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    assert net.call(add(2, 3), timeout=5) == (5, "codecav-net")
    net.submit(forever())
    time.sleep(0.05)
    net.stop()
    assert cancelled.is_set()


def test_animated_source_paces_frames_and_stamps_capture_times() -> None:
    codes = [np.zeros(4, np.float32), np.ones(4, np.float32)]
    source = AnimatedCodeSource(codes, fps=50.0, frames=5)
    frames = [source.read() for _ in range(6)]
    got = [f for f in frames if f is not None]
    assert [f.sequence for f in got] == [0, 1, 2, 3, 4] and frames[5] is None
    # Frames follow a fixed 20 ms schedule: never early; a late one does not shift the ones after it.
    since_first_ms = (np.array([f.capture_time_us for f in got]) - got[0].capture_time_us) / 1000
    assert np.all(since_first_ms >= np.arange(5) * 20.0 - 1.0)
    assert since_first_ms[-1] < 80.0 + 150.0
    assert not np.allclose(got[0].code, got[4].code)


class _FailingSource(LatentSource):
    name: ClassVar[str] = "failing"

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        raise OSError("camera unplugged")

    def close(self) -> None:
        pass


def test_sender_worker_surfaces_what_stopped_it() -> None:
    worker = SenderWorker(_FailingSource(), lambda frame: None, Profiler())
    worker.start()
    time.sleep(0.05)
    with pytest.raises(OSError, match="camera unplugged"):
        worker.stop()


@pytest.mark.gl
def test_engine_renders_remote_frames_and_records_what_it_presented(gl_ctx: moderngl.Context) -> None:
    package = build_synthetic_avatar(seed=1)
    target = HeadlessTarget(camera_views(96, 72, eye=(0.0, 0.0, 0.9), fovy_deg=35.0), ctx=gl_ctx)
    renderer = SceneRenderer(gl_ctx)
    profiler = Profiler(ProfilerOptions(enabled=True))
    engine = Engine(target, renderer, profiler)
    feed = LatestFeed()
    engine.add_remote("bob", package, row_layout(1)[0], feed)
    rng = np.random.default_rng(0)
    images = []
    engine.on_presented = lambda index: images.append(target.read_rgb())
    # Frame 0 arrives before the first display, frames 1 and 2 both before the second: 1 is stale and dropped.
    codes = [rng.normal(0, 0.8, package.manifest.latent.dim).astype(np.float32) for _ in range(3)]
    feed.push(ReceivedFrame("bob", LatentFrame(0, 0, codes[0]), capture_ns=100, received_ns=200))
    engine.run(frames=1)
    feed.push(ReceivedFrame("bob", LatentFrame(1, 0, codes[1]), capture_ns=300, received_ns=400))
    feed.push(ReceivedFrame("bob", LatentFrame(2, 0, codes[2]), capture_ns=500, received_ns=600))
    run = engine.run(frames=2)
    assert run.frames_rendered == 2
    assert [(p.peer, p.frame, p.capture_ns) for p in run.presented] == [("bob", 2, 500), ("bob", 2, 500)]
    assert feed.slot.overwritten == 1
    assert not np.array_equal(images[0], images[1]), "a new code must change the picture"
    assert np.array_equal(images[1], images[2]), "no new frame: the same code is shown again"
    names = {s.name for s in profiler.spans()}
    assert {"jitter_buffer", "decode", "render", "present"} <= names
    assert any(s.name == "decode" and s.peer == "bob" and s.frame == 2 for s in profiler.spans())
    renderer.release()


@pytest.mark.gl
def test_engine_turns_the_remote_head_with_its_pose(gl_ctx: moderngl.Context) -> None:
    from codecav.latent import HeadPose

    package = build_synthetic_avatar(seed=2)
    target = HeadlessTarget(camera_views(64, 48, eye=(0.0, 0.0, 0.9), fovy_deg=35.0), ctx=gl_ctx)
    renderer = SceneRenderer(gl_ctx)
    engine = Engine(target, renderer, Profiler())
    feed = LatestFeed()
    base = row_layout(1)[0]
    engine.add_remote("bob", package, base, feed)
    half = np.sqrt(0.5).astype(np.float32)
    turned = HeadPose(np.zeros(3, np.float32), np.array([0.0, half, 0.0, half], np.float32))  # 90 deg about +y
    code = np.zeros(package.manifest.latent.dim, np.float32)
    feed.push(ReceivedFrame("bob", LatentFrame(0, 0, code, turned), capture_ns=0, received_ns=0))
    engine.run(frames=1)
    transform = engine.scene.instances[0].transform
    # The head's +z (its face direction) now points along world +x, at the same place.
    assert np.allclose(transform[:3, :3] @ np.array([0.0, 0.0, 1.0]), base[:3, :3] @ np.array([1.0, 0.0, 0.0]),
                       atol=1e-5)
    assert np.allclose(transform[:3, 3], base[:3, 3])
    renderer.release()
