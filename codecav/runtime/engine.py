"""The engine: which work runs where, and how frames flow between threads without queuing up.

- The render loop (the one loop of codecav) runs on the thread that owns the GL context (the caller of
  `Engine.run`): wait frame -> poll the target -> update each avatar from its feed -> render -> present, paced
  by the target or a FrameClock. All its time comes from the FrameClock's Clock, so tests run it on FakeClock.
- Networking runs on an asyncio loop in its own thread (`NetworkThread`); it hands received frames to the
  engine with `deliver()`, from any thread.
- Encoders run in worker threads (`SenderWorker`): source -> LatentFrame -> `send` callback.
Back-pressure: every hand-over is a one-slot mailbox (`LatestSlot`) whose newer value replaces an unread
older one, counted as dropped; nothing queues without bound.
Ready before media flows: `Engine.prepare` loads and warms every remote (decoder session, GL programs, one
offscreen decode and draw) before the loop pulls its first frame; `SenderWorker.start(sending=False)` runs the
source (models loaded, frames read and dropped) until `start_sending`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.camera import View, pose_matrix
from codecav.clock import MONOTONIC, Clock, FrameClock
from codecav.decoders.neural import DecodeBudget
from codecav.encoders.animated_source import code_animation
from codecav.encoders.base import LatentSource
from codecav.latent import LatentFrame
from codecav.runtime.profiler import Profiler
from codecav.runtime.report import FramePresented
from codecav.runtime.scene import AvatarInstance, Scene
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.base import EyeView, RenderTarget

T = TypeVar("T")

REMOTE_DECODE_BUDGET = DecodeBudget(call_ms=100.0, max_overruns=10, abort_ms=1000.0)
"""How long a remote avatar's decoder may take (codecav.decoders.neural.DecodeBudget): a decoder that is slow
frame after frame, or runs on for a second, is dropped and its avatar stops being drawn; the call goes on."""
PHOTON_LEAD_FRAMES = 30
"""Recent frames whose display-to-present times give the photon lead (about a second)."""


class LatestSlot(Generic[T]):
    """A thread-safe one-value mailbox: `put` replaces an unread value (counted in `overwritten`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None
        self.overwritten = 0
        """Values replaced before anyone took them (stale frames dropped)."""

    def put(self, value: T) -> None:
        """Store `value`, dropping an unread older one."""
        with self._lock:
            if self._value is not None:
                self.overwritten += 1
            self._value = value

    def take(self) -> T | None:
        """The newest value, once; None if nothing new arrived."""
        with self._lock:
            value, self._value = self._value, None
            return value


@dataclass(frozen=True)
class ReceivedFrame:
    """A remote LatentFrame as the engine sees it."""

    peer: str
    """Remote peer id."""
    frame: LatentFrame
    """The decoded frame (code, pose, gaze, flags)."""
    capture_ns: int
    """The sender's capture time of the state shown, mapped onto the local monotonic clock (clock sync)."""
    received_ns: int
    """When the newest frame it uses was in the local buffer (parsed), local monotonic clock."""
    frame_capture_ns: int | None = None
    """Capture time of that newest frame (mapped), when it differs from `capture_ns` (a jitter buffer
    interpolating between frames shows an earlier instant); None: `capture_ns`."""

    @property
    def transit_ns(self) -> int:
        """How long the newest frame took from its capture to the local buffer."""
        return self.received_ns - (self.capture_ns if self.frame_capture_ns is None else self.frame_capture_ns)


class RemoteFeed(Protocol):
    """Where the render loop gets a remote peer's frame for a display time (latest value or a jitter buffer)."""

    def frame_for_display(self, display_ns: int, photon_lead_ns: int = 0) -> ReceivedFrame | None:
        """The frame to show at `display_ns`, or None to keep showing the previous one; it reaches the eye
        `photon_lead_ns` later (decode, draw and present: a feed keeping face and voice in sync needs it)."""


class LatestFeed:
    """The simplest RemoteFeed: the newest frame that arrived since the last display."""

    def __init__(self) -> None:
        self.slot: LatestSlot[ReceivedFrame] = LatestSlot()

    def push(self, received: ReceivedFrame) -> None:
        """Hand over a frame (any thread)."""
        self.slot.put(received)

    def frame_for_display(self, display_ns: int, photon_lead_ns: int = 0) -> ReceivedFrame | None:
        """The newest frame, or None when none arrived since the last call."""
        return self.slot.take()


class AnimatedFeed:
    """A RemoteFeed that plays `code_animation(codes)` at each display time (time 0 at the first display):
    a live view of avatars without senders, e.g. before the demo."""

    def __init__(self, peer: str, codes: list[np.ndarray], seconds_per_code: float = 1.5) -> None:
        """Loop through `codes`, `seconds_per_code` apart, as peer `peer`."""
        self.peer = peer
        self._at = code_animation(codes, seconds_per_code)
        self._start_ns: int | None = None
        self._sequence = 0

    def frame_for_display(self, display_ns: int, photon_lead_ns: int = 0) -> ReceivedFrame:
        """The animation's frame at `display_ns`, stamped as captured then."""
        if self._start_ns is None:
            self._start_ns = display_ns
        code = self._at((display_ns - self._start_ns) / 1e9)
        frame = LatentFrame(self._sequence, max(display_ns, 0) // 1000, code)
        self._sequence += 1
        return ReceivedFrame(self.peer, frame, capture_ns=display_ns, received_ns=display_ns)


class NetworkThread:
    """An asyncio event loop on its own daemon thread; `submit` runs coroutines on it from any thread."""

    def __init__(self, name: str = "codecav-net") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; the future gives its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def call_in_loop(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run `fn()` on the loop's thread and wait for its result: to read state the loop changes (a call's
        statistics while a peer leaves) without racing it."""
        async def run() -> T:
            return fn()

        return self.call(run(), timeout)

    def stop(self) -> None:
        """Cancel what is left on the loop, stop it and join the thread."""
        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            self.submit(_cancel_all()).result(5.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        self.loop.close()


class SenderWorker:
    """Reads a LatentSource on a worker thread and hands each frame to `send` ('encode' and 'send' spans, timed
    on the profiler's clock and tagged with the frame and `peer`). `send` may return when the frame left (ns on
    the profiler's clock; a loopback that carries it further itself), else the 'send' span ends when it returns."""

    def __init__(self, source: LatentSource, send: Callable[[LatentFrame], int | None], profiler: Profiler,
                 name: str = "codecav-encoder", *, peer: str = "local") -> None:
        self.source = source
        self._send = send
        self._profiler = profiler
        self._peer = peer
        self._stop = threading.Event()
        self._sending = threading.Event()
        self._first_frame = threading.Event()
        self.frames_sent = 0
        """Frames handed to `send`."""
        self.frames_skipped = 0
        """Frames read before `start_sending` (the source runs, nothing is sent)."""
        self.error: BaseException | None = None
        """What stopped the worker early, if anything (re-raised by `stop`)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, *, sending: bool = True) -> None:
        """Start reading; with `sending=False` frames are read and dropped until `start_sending` (the models are
        loaded and warm and a paced source keeps its clock, so sending later starts without a stall or burst)."""
        if sending:
            self._sending.set()
        self._thread.start()

    def start_sending(self) -> None:
        """Send every frame read from now on."""
        self._sending.set()

    def wait_first_frame(self, timeout_s: float) -> bool:
        """Wait until the source delivered its first frame (its models loaded and ran once); False on time-out
        or if the worker stopped (`stop` re-raises why)."""
        clock = self._profiler.clock
        deadline = clock.now_ns() + int(timeout_s * 1e9)
        while not self._first_frame.is_set():
            if not self._thread.is_alive() or clock.now_ns() >= deadline:
                return self._first_frame.is_set()
            clock.wait_ns(self._first_frame, min(50_000_000, max(0, deadline - clock.now_ns())))
        return True

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read(timeout=0.2)
                if frame is None:
                    if self._stop.is_set():
                        break
                    continue
                self._first_frame.set()
                if not self._sending.is_set():
                    self.frames_skipped += 1
                    continue
                ready_ns = self._profiler.clock.now_ns()
                # The source stamps capture time when the sensor data was taken; what happened between then and
                # now is capture + encode.
                self._profiler.add("encode", frame.capture_time_us * 1000, ready_ns, frame=frame.sequence,
                                   peer=self._peer)
                left_ns = self._send(frame)
                self._profiler.add("send", ready_ns, self._profiler.clock.now_ns() if left_ns is None else left_ns,
                                   frame=frame.sequence, peer=self._peer)
                self.frames_sent += 1
        except BaseException as exc:  # surfaced by stop(); a worker must not die silently
            self.error = exc

    def stop(self) -> None:
        """Stop reading, close the source and join the thread; re-raise what stopped it early."""
        self._stop.set()
        self._thread.join(5.0)
        self.source.close()
        if self.error is not None:
            raise self.error


@dataclass
class RemoteMilestones:
    """When the engine got one remote ready and first showed it, on the engine's clock (None: not yet)."""

    prepared_ns: int | None = None
    """`prepare` loaded and warmed it up (decoder session, GL programs, one offscreen decode and draw)."""
    first_frame: int | None = None
    """Sequence of the first remote frame shown."""
    first_decode_ns: int | None = None
    """When that frame's decode finished."""
    first_photon_ns: int | None = None
    """When the display frame showing it was presented."""


@dataclass
class _Remote:
    peer: str
    feed: RemoteFeed
    instance: AvatarInstance
    base_transform: np.ndarray
    shown: ReceivedFrame | None = None
    milestones: RemoteMilestones = field(default_factory=RemoteMilestones)


@dataclass
class EngineRun:
    """What one `Engine.run` did: counts and the records the latency report is built from."""

    frames: int = 0
    """Frames begun (an XR runtime may ask to skip rendering some)."""
    frames_rendered: int = 0
    """Display frames that had views to draw, rendered and presented."""
    late_frames: int = 0
    """Frames the FrameClock reported late (a period or more after they were due)."""
    frame_ms: list[float] = field(default_factory=list)
    """Per rendered frame: update + render + present time in milliseconds."""
    presented: list[FramePresented] = field(default_factory=list)
    """One record per remote frame per display it was shown on (first_presents() dedups)."""
    start_ns: int = 0
    """When the run began, on the engine's clock."""
    end_ns: int = 0
    """When it ended."""

    def frame_ms_percentile(self, q: float) -> float:
        """The `q`th percentile (0-100) of `frame_ms`; 0.0 when nothing was rendered."""
        return float(np.percentile(self.frame_ms, q)) if self.frame_ms else 0.0


class Engine:
    """The render side: remote avatars placed in a scene, drawn every frame from their feeds."""

    def __init__(self, target: RenderTarget, renderer: SceneRenderer, profiler: Profiler,
                 clock: FrameClock | None = None, background: tuple[float, float, float] = (0.08, 0.09, 0.11)) -> None:
        """`clock` paces the loop and is the time source of everything the engine measures; without one the
        target paces it (xrWaitFrame, a window's swap; headless: as fast as it can) on the real clock. `profiler`
        times on that same clock: its spans and the engine's readings are one timeline."""
        self.target = target
        self.renderer = renderer
        self.profiler = profiler
        self.clock = clock
        """The FrameClock pacing the loop, if any."""
        self.time_source: Clock = clock.clock if clock is not None else MONOTONIC
        """Where every time the engine reads comes from (display, present, deadline, frame durations)."""
        self.scene = Scene(background=background)
        self._remotes: dict[str, _Remote] = {}
        self.on_presented: Callable[[int], None] | None = None
        """Called after each present with the frame index (e.g. to grab the image for a video); the frame's
        views are in `eyes` and its present time in `presented_ns`."""
        self.eyes: list[EyeView] = []
        """The views (with their framebuffers) of the frame being drawn or just presented."""
        self.presented_ns = 0
        """When the last frame was presented, on the engine's clock."""
        self._photon_leads_ns: deque[int] = deque(maxlen=PHOTON_LEAD_FRAMES)

    @property
    def photon_lead_ns(self) -> int:
        """How long after its display time a frame reaches the eye (median of the recent frames' decode, draw
        and present); feeds use it to keep a face in sync with its voice. 0 before the first frame."""
        return int(np.median(self._photon_leads_ns)) if self._photon_leads_ns else 0

    def add_remote(self, peer: str, package: AvatarPackage, transform: np.ndarray, feed: RemoteFeed) -> None:
        """Show `peer`'s avatar at `transform` (head -> world), fed by `feed`; neutral (zero) code until a frame.
        Each frame's head orientation turns the avatar about its head centre."""
        key = f"remote:{peer}"
        self.renderer.add_avatar(key, package, budget=REMOTE_DECODE_BUDGET)  # someone else's model: bounded
        instance = AvatarInstance(key, transform, np.zeros(package.manifest.latent.dim, np.float32), peer=peer)
        self.scene.instances.append(instance)
        self._remotes[peer] = _Remote(peer, feed, instance, transform.astype(np.float32))

    def place_remote(self, peer: str, transform: np.ndarray) -> None:
        """Move `peer`'s avatar to `transform` (head -> world) from the next frame on (a room re-laid out)."""
        self._remotes[peer].base_transform = transform.astype(np.float32)

    def prepare(self, views: list[View]) -> None:
        """Get every remote not yet prepared ready to show: its decoder session is loaded (`add_remote`), and one
        decode and draw at the sizes of `views`, offscreen, builds its GL programs, buffers and render targets,
        so the first frame pulled from its feed meets no set-up stall."""
        fresh = [r for r in self._remotes.values() if r.milestones.prepared_ns is None]
        if not fresh:
            return
        self.renderer.warm_up(self.scene, views, [self.scene.instances.index(r.instance) for r in fresh])
        done_ns = self.time_source.now_ns()
        for remote in fresh:
            remote.milestones.prepared_ns = done_ns

    def remove_remote(self, peer: str) -> None:
        """Stop showing `peer` (it left the call): its avatar leaves the scene from the next frame on."""
        remote = self._remotes.pop(peer, None)
        if remote is None:
            return
        self.scene.instances.remove(remote.instance)
        self.renderer.remove_avatar(remote.instance.avatar_key)

    def milestones(self, peer: str) -> RemoteMilestones:
        """When `peer` was prepared and first shown (KeyError for a peer never added)."""
        return self._remotes[peer].milestones

    def run(self, *, seconds: float | None = None, frames: int | None = None,
            should_stop: Callable[[], bool] | None = None) -> EngineRun:
        """Render until `seconds` pass, `frames` are begun, `should_stop()` or the target asks to close."""
        now = self.time_source.now_ns
        run = EngineRun(start_ns=now())
        deadline = None if seconds is None else run.start_ns + int(seconds * 1e9)
        while not self.target.should_close:
            if frames is not None and run.frames >= frames:
                break
            if deadline is not None and now() >= deadline:
                break
            if should_stop is not None and should_stop():
                break
            if self.clock is not None:
                timing = self.clock.wait_frame()
                # The faces due when this frame's work begins: a loop running behind its period shows the faces
                # due now, not those due at the slot it missed (they were up to a period older).
                display_ns = max(timing.target_ns, timing.start_ns)
                run.late_frames += int(timing.late)
            else:
                display_ns = now()
            eyes = self.target.begin_frame()
            predicted_ns = self.target.display_time_ns()
            if predicted_ns is not None:  # OpenXR: the face due when this frame's photons leave the display
                display_ns = predicted_ns
            self.eyes = eyes
            began_ns = now()
            fresh: list[tuple[_Remote, ReceivedFrame, int]] = []  # frames shown for the first time, when taken
            photon_lead_ns = self.photon_lead_ns
            with self.profiler.span("jitter_buffer"):
                for remote in self._remotes.values():
                    received = remote.feed.frame_for_display(display_ns, photon_lead_ns)
                    if received is not None:
                        if remote.shown is None or remote.shown.frame.sequence != received.frame.sequence:
                            fresh.append((remote, received, self.profiler.clock.now_ns()))
                        remote.shown = received
                        remote.instance.code = received.frame.code
                        remote.instance.frame = received.frame.sequence
                        # The sender's head turns about its own centre at the place the scene gives it; its
                        # position in the sender's room means nothing here.
                        turn = pose_matrix(np.zeros(3, np.float32), received.frame.head_pose.orientation)
                        remote.instance.transform = remote.base_transform @ turn
            times = self.renderer.render(self.scene, eyes, self.profiler) if eyes else None
            for remote, received, taken_ns in fresh:
                index = self.scene.instances.index(remote.instance)
                self._record_hold(remote.peer, received, times.decoded[index][0] if times else taken_ns)
            drawn_ns = times.drawn_ns if times else self.profiler.clock.now_ns()
            self.target.present()
            present_ns = now()
            # One reading ends the drawing and begins the present (SceneRenderer.render tiles its steps the same
            # way), so a displayed frame's stages add up to its capture-to-photon.
            self.profiler.add("present", drawn_ns, present_ns)
            self.presented_ns = present_ns
            photon_ns = present_ns if predicted_ns is None else predicted_ns
            self._photon_leads_ns.append(max(0, photon_ns - display_ns))
            if eyes:
                run.frames_rendered += 1
                run.frame_ms.append((present_ns - began_ns) / 1e6)
                for remote in self._remotes.values():
                    if remote.shown is not None:
                        run.presented.append(FramePresented(remote.peer, remote.shown.frame.sequence,
                                                            remote.shown.capture_ns, photon_ns))
                        self._note_first_frame(remote, times.decoded if times else [], photon_ns)
            if self.on_presented is not None:
                self.on_presented(run.frames)
            run.frames += 1
        run.end_ns = now()
        return run

    def _record_hold(self, peer: str, received: ReceivedFrame, until_ns: int) -> None:
        """A 'hold' span for a frame shown for the first time, ending when its decode began (`until_ns`, profiler
        clock): from the capture instant shown to then, less the newest frame's own trip to the buffer, the frame
        waited (the jitter buffer's playout delay, and the render loop until it got to the frame). So encode +
        send + receive + hold reach the decode exactly."""
        hold_ns = (until_ns - received.capture_ns) - received.transit_ns
        self.profiler.add("hold", until_ns - hold_ns, until_ns, frame=received.frame.sequence, peer=peer,
                          thread=f"hold {peer}")

    def _note_first_frame(self, remote: _Remote, decoded: list[tuple[int, int]], present_ns: int) -> None:
        marks = remote.milestones
        if marks.first_photon_ns is not None or remote.shown is None:
            return
        index = self.scene.instances.index(remote.instance)
        marks.first_frame = remote.shown.frame.sequence
        marks.first_decode_ns = decoded[index][1] if index < len(decoded) else present_ns
        marks.first_photon_ns = present_ns
