"""The engine: one-slot back-pressure, the network thread, sender workers and the render loop (llvmpipe), all
on fake time or events: no assertion depends on how fast this machine is."""

from __future__ import annotations

import asyncio
import threading
from typing import ClassVar

import moderngl
import numpy as np
import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.clock import FakeClock, FrameClock
from codecav.encoders.animated_source import AnimatedCodeSource, code_animation
from codecav.encoders.base import LatentSource
from codecav.latent import LatentFrame
from codecav.runtime.engine import (
    AnimatedFeed,
    Engine,
    LatestFeed,
    LatestSlot,
    NetworkThread,
    ReceivedFrame,
    SenderWorker,
)
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
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def add(a: int, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    assert net.call(add(2, 3), timeout=5) == (5, "codecav-net")
    net.submit(forever())
    assert started.wait(5.0)
    net.stop()
    assert cancelled.is_set()


def test_code_animation_passes_through_each_code_smoothly() -> None:
    codes = [np.zeros(4, np.float32), np.ones(4, np.float32)]
    anim = code_animation(codes, seconds_per_code=1.0)
    np.testing.assert_allclose(anim(0.0), codes[0])
    np.testing.assert_allclose(anim(1.0), codes[1])
    np.testing.assert_allclose(anim(0.5), 0.5)
    np.testing.assert_allclose(anim(2.0), codes[0], atol=1e-6)  # loops back


def test_animated_source_paces_frames_and_stamps_capture_times() -> None:
    codes = [np.zeros(4, np.float32), np.ones(4, np.float32)]
    fake = FakeClock(1_000_000_000)
    source = AnimatedCodeSource(codes, fps=50.0, frames=5, clock=fake)
    frames = [source.read() for _ in range(2)]
    fake.advance(50_000_000)  # the reader falls behind: frame 2 comes at once, late; 3 and 4 keep the schedule
    frames += [source.read() for _ in range(4)]
    got = [f for f in frames if f is not None]
    assert [f.sequence for f in got] == [0, 1, 2, 3, 4] and frames[5] is None
    since_first_ms = (np.array([f.capture_time_us for f in got]) - got[0].capture_time_us) / 1000
    np.testing.assert_allclose(since_first_ms, [0.0, 20.0, 70.0, 70.0, 80.0])
    assert not np.allclose(got[0].code, got[4].code)


class _FailingSource(LatentSource):
    name: ClassVar[str] = "failing"

    def __init__(self) -> None:
        self.reading = threading.Event()

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        self.reading.set()
        raise OSError("camera unplugged")

    def close(self) -> None:
        pass


def test_sender_worker_surfaces_what_stopped_it() -> None:
    source = _FailingSource()
    worker = SenderWorker(source, lambda frame: None, Profiler())
    worker.start()
    assert source.reading.wait(5.0)
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


class _RecordingFeed(AnimatedFeed):
    """AnimatedFeed that remembers the display times it was asked for."""

    def __init__(self, peer: str, codes: list[np.ndarray], seconds_per_code: float) -> None:
        super().__init__(peer, codes, seconds_per_code)
        self.display_ns: list[int] = []

    def frame_for_display(self, display_ns: int, photon_lead_ns: int = 0) -> ReceivedFrame:
        self.display_ns.append(display_ns)
        return super().frame_for_display(display_ns, photon_lead_ns)


@pytest.mark.gl
def test_engine_paces_frames_on_fake_time_animates_and_stops_when_the_target_closes(
        gl_ctx: moderngl.Context) -> None:
    package = build_synthetic_avatar(seed=1)
    target = HeadlessTarget(camera_views(64, 48, eye=(0.0, 0.0, 0.8)), ctx=gl_ctx)
    renderer = SceneRenderer(gl_ctx)
    fake = FakeClock()
    engine = Engine(target, renderer, Profiler(clock=fake), clock=FrameClock(33_333_333, fake))
    dim = package.manifest.latent.dim
    feed = _RecordingFeed("a", [np.zeros(dim, np.float32), np.full(dim, 0.8, np.float32)], seconds_per_code=0.1)
    engine.add_remote("a", package, row_layout(1)[0], feed)
    images = []

    def keep(index: int) -> None:
        images.append(target.read_rgb())
        if index == 4:
            target.should_close = True

    engine.on_presented = keep
    run = engine.run(frames=30)
    assert run.frames == 5 and run.frames_rendered == 5 and run.late_frames == 0
    # Frames are due every 1/30 s of the clock; the animation runs on the display time.
    assert np.array(feed.display_ns) / 1e9 == pytest.approx([i / 30 for i in range(5)], abs=1e-6)
    assert (run.start_ns, run.end_ns) == (0, 4 * 33_333_333)
    assert [p.present_ns for p in run.presented] == feed.display_ns
    # The code changes over time, so the rendered avatar does too.
    assert not np.array_equal(images[0], images[2])
    renderer.release()
    target.close()


class _SlowTarget(HeadlessTarget):
    """A headless target whose present takes `present_ms[i]` of fake time on frame i."""

    def __init__(self, clock: FakeClock, present_ms: list[float], ctx: moderngl.Context) -> None:
        super().__init__(camera_views(32, 24, eye=(0.0, 0.0, 0.8)), ctx=ctx)
        self.clock = clock
        self.present_ms = present_ms

    def present(self) -> None:
        self.clock.advance(int(self.present_ms[self.frames_presented] * 1e6))
        super().present()


@pytest.mark.gl
def test_engine_measures_frames_and_late_frames_and_ends_at_its_deadline_on_fake_time(
        gl_ctx: moderngl.Context) -> None:
    fake = FakeClock(5_000_000_000)
    target = _SlowTarget(fake, [5.0, 60.0, 5.0, 5.0, 5.0, 5.0, 5.0], gl_ctx)
    renderer = SceneRenderer(gl_ctx)
    engine = Engine(target, renderer, Profiler(clock=fake), clock=FrameClock(25_000_000, fake))
    engine.add_remote("a", build_synthetic_avatar(seed=3), row_layout(1)[0], LatestFeed())
    run = engine.run(seconds=0.15)
    # Frames due at 0 and 25 ms (whose present lasts until 85 ms); the one due at 50 starts late at 85 and the
    # missed slot is dropped (next due 100); then 100, 125, 150; at 155 ms the 150 ms deadline has passed.
    assert run.frame_ms == [5.0, 60.0, 5.0, 5.0, 5.0, 5.0]
    assert run.frames == run.frames_rendered == 6 and run.late_frames == 1
    assert run.end_ns - run.start_ns == 155_000_000
    assert run.frame_ms_percentile(50) == 5.0
    assert run.presented == []  # no frame ever arrived for "a"
    renderer.release()
    target.close()


@pytest.mark.gl
def test_a_loop_behind_its_period_shows_the_faces_due_when_its_frame_begins(gl_ctx: moderngl.Context) -> None:
    """Frames due every 25 ms, each taking 40 ms: the frame due at 25 begins at 40 and asks its feed for the face
    due at 40, not at 25 (a face 15 ms older than it could show)."""
    fake = FakeClock()
    target = _SlowTarget(fake, [40.0] * 4, gl_ctx)
    renderer = SceneRenderer(gl_ctx)
    engine = Engine(target, renderer, Profiler(clock=fake), clock=FrameClock(25_000_000, fake))
    package = build_synthetic_avatar(seed=2)
    feed = _RecordingFeed("a", [np.zeros(package.manifest.latent.dim, np.float32)], seconds_per_code=0.1)
    engine.add_remote("a", package, row_layout(1)[0], feed)
    run = engine.run(frames=4)
    # due 0, 25 (begins 40), 50 (begins 80: a whole period late, the slot moves to 75), 100 (begins 120)
    assert [d // 1_000_000 for d in feed.display_ns] == [0, 40, 80, 120]
    assert [p.present_ns // 1_000_000 for p in run.presented] == [40, 80, 120, 160]
    renderer.release()
    target.close()


class _CountingSource(LatentSource):
    """Frames 0, 1, 2 ... as fast as they are read, each taking 1 ms of fake time."""

    name: ClassVar[str] = "counting"

    def __init__(self, clock: FakeClock, dim: int) -> None:
        self.clock = clock
        self.dim = dim
        self.sequence = 0
        self.closed = threading.Event()

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        if self.closed.is_set():
            return None
        self.clock.advance(1_000_000)  # 1 ms of "encoding"
        frame = LatentFrame(self.sequence, self.clock.now_us(), np.zeros(self.dim, np.float32))
        self.sequence += 1
        return frame

    def close(self) -> None:
        self.closed.set()


def test_sender_worker_runs_its_source_before_sending_and_times_the_hand_off() -> None:
    fake = FakeClock(10_000_000)
    source = _CountingSource(fake, 4)
    sent: list[int] = []
    profiler = Profiler(ProfilerOptions(enabled=True), clock=fake)
    enough = threading.Event()

    def send(frame: LatentFrame) -> int:
        sent.append(frame.sequence)
        if len(sent) >= 3:
            enough.set()
        return frame.capture_time_us * 1000 + 250_000  # it left 0.25 ms after its capture

    worker = SenderWorker(source, send, profiler, peer="alice")
    worker.start(sending=False)
    assert worker.wait_first_frame(5.0)
    assert sent == [] and worker.frames_sent == 0
    worker.start_sending()
    assert enough.wait(5.0)
    worker.stop()
    assert worker.frames_skipped >= 1 and sent[0] >= worker.frames_skipped
    spans = [s for s in profiler.spans() if s.frame == sent[0]]
    assert {s.name for s in spans} == {"encode", "send"} and {s.peer for s in spans} == {"alice"}
    [send_span] = [s for s in spans if s.name == "send"]
    assert send_span.end_ns - send_span.start_ns == 250_000  # encode ends at the capture stamp here (no time)


def test_sender_worker_that_never_delivers_is_not_ready() -> None:
    source = _FailingSource()
    worker = SenderWorker(source, lambda frame: None, Profiler())
    worker.start(sending=False)
    assert not worker.wait_first_frame(5.0)
    with pytest.raises(OSError, match="camera unplugged"):
        worker.stop()


@pytest.mark.gl
def test_prepare_warms_up_offscreen_without_changing_what_is_drawn(gl_ctx: moderngl.Context) -> None:
    package = build_synthetic_avatar(seed=5)
    views = camera_views(64, 48, eye=(0.0, 0.0, 0.9), fovy_deg=35.0)
    code = np.random.default_rng(1).normal(0, 0.8, package.manifest.latent.dim).astype(np.float32)
    images = []
    for prepare in (False, True):
        target = HeadlessTarget(views, ctx=gl_ctx)
        renderer = SceneRenderer(gl_ctx)
        engine = Engine(target, renderer, Profiler())
        feed = LatestFeed()
        engine.add_remote("bob", package, row_layout(1)[0], feed)
        if prepare:
            engine.prepare(views)
            assert engine.milestones("bob").prepared_ns is not None
            assert target.frames_presented == 0, "the warm-up draws offscreen, it presents nothing"
        feed.push(ReceivedFrame("bob", LatentFrame(0, 0, code), capture_ns=0, received_ns=0))
        engine.run(frames=1)
        images.append(target.read_rgb())
        marks = engine.milestones("bob")
        assert marks.first_frame == 0 and marks.first_decode_ns is not None and marks.first_photon_ns is not None
        assert marks.first_decode_ns <= marks.first_photon_ns
        renderer.release()
        target.close()
    assert np.array_equal(images[0], images[1])


def test_network_thread_runs_a_plain_function_on_its_loop() -> None:
    net = NetworkThread("codecav-net-test")
    try:
        assert net.call_in_loop(lambda: threading.current_thread().name, timeout=5) == "codecav-net-test"
    finally:
        net.stop()
