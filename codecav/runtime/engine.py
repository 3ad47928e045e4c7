"""The engine: which work runs where, and how frames flow between threads without queuing up.

- The render loop runs on the thread that owns the GL context (the caller of `Engine.run`): it takes the
  newest frame of every remote peer, decodes, renders and presents, paced by the target or a FrameClock.
- Networking runs on an asyncio loop in its own thread (`NetworkThread`); it hands received frames to the
  engine with `deliver()`, from any thread.
- Encoders run in worker threads (`SenderWorker`): source -> LatentFrame -> `send` callback.
Back-pressure: every hand-over is a one-slot mailbox (`LatestSlot`) whose newer value replaces an unread
older one, counted as dropped; nothing queues without bound.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.camera import pose_matrix
from codecav.clock import FrameClock
from codecav.encoders.base import LatentSource
from codecav.latent import LatentFrame
from codecav.runtime.profiler import Profiler
from codecav.runtime.report import FramePresented
from codecav.runtime.scene import AvatarInstance, Scene
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.base import RenderTarget

T = TypeVar("T")


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
    """The sender's capture time mapped onto the local monotonic clock (clock sync)."""
    received_ns: int
    """When it arrived, local monotonic clock."""


class RemoteFeed(Protocol):
    """Where the render loop gets a remote peer's frame for a display time (latest value or a jitter buffer)."""

    def frame_for_display(self, display_ns: int) -> ReceivedFrame | None:
        """The frame to show at `display_ns`, or None to keep showing the previous one."""


class LatestFeed:
    """The simplest RemoteFeed: the newest frame that arrived since the last display."""

    def __init__(self) -> None:
        self.slot: LatestSlot[ReceivedFrame] = LatestSlot()

    def push(self, received: ReceivedFrame) -> None:
        """Hand over a frame (any thread)."""
        self.slot.put(received)

    def frame_for_display(self, display_ns: int) -> ReceivedFrame | None:
        """The newest frame, or None when none arrived since the last call."""
        return self.slot.take()


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
    """Reads a LatentSource on a worker thread and hands each frame to `send` ('encode' and 'send' spans)."""

    def __init__(self, source: LatentSource, send: Callable[[LatentFrame], None], profiler: Profiler,
                 name: str = "codecav-encoder") -> None:
        self.source = source
        self._send = send
        self._profiler = profiler
        self._stop = threading.Event()
        self.frames_sent = 0
        self.error: BaseException | None = None
        """What stopped the worker early, if anything (re-raised by `stop`)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read(timeout=0.2)
                if frame is None:
                    if self._stop.is_set():
                        break
                    continue
                ready_ns = time.monotonic_ns()
                # The source stamps capture time when the sensor data was taken; what happened between then and
                # now is capture + encode.
                self._profiler.add("encode", frame.capture_time_us * 1000, ready_ns, frame=frame.sequence)
                with self._profiler.span("send", frame.sequence):
                    self._send(frame)
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
class _Remote:
    peer: str
    feed: RemoteFeed
    instance: AvatarInstance
    base_transform: np.ndarray
    shown: ReceivedFrame | None = None


@dataclass
class EngineRun:
    """What one `Engine.run` did: counts and the records the latency report is built from."""

    frames_rendered: int = 0
    """Display frames presented."""
    presented: list[FramePresented] = field(default_factory=list)
    """One record per remote frame per display it was shown on (first_presents() dedups)."""
    start_ns: int = 0
    """When the run began."""
    end_ns: int = 0
    """When it ended."""


class Engine:
    """The render side: remote avatars placed in a scene, drawn every frame from their feeds."""

    def __init__(self, target: RenderTarget, renderer: SceneRenderer, profiler: Profiler,
                 clock: FrameClock | None = None, background: tuple[float, float, float] = (0.08, 0.09, 0.11)) -> None:
        self.target = target
        self.renderer = renderer
        self.profiler = profiler
        self.clock = clock
        self.scene = Scene(background=background)
        self._remotes: dict[str, _Remote] = {}
        self.on_presented: Callable[[int], None] | None = None
        """Called after each present with the frame index (e.g. to grab the image for a video)."""

    def add_remote(self, peer: str, package: AvatarPackage, transform: np.ndarray, feed: RemoteFeed) -> None:
        """Show `peer`'s avatar at `transform` (head -> world), fed by `feed`; neutral (zero) code until a frame.
        Each frame's head orientation turns the avatar about its head centre."""
        key = f"remote:{peer}"
        self.renderer.add_avatar(key, package)
        instance = AvatarInstance(key, transform, np.zeros(package.manifest.latent.dim, np.float32), peer=peer)
        self.scene.instances.append(instance)
        self._remotes[peer] = _Remote(peer, feed, instance, transform.astype(np.float32))

    def run(self, *, seconds: float | None = None, frames: int | None = None,
            should_stop: Callable[[], bool] | None = None) -> EngineRun:
        """Render until `seconds` pass, `frames` are presented, `should_stop()` or the target asks to close."""
        run = EngineRun(start_ns=time.monotonic_ns())
        deadline = None if seconds is None else run.start_ns + int(seconds * 1e9)
        index = 0
        while not self.target.should_close:
            if frames is not None and index >= frames:
                break
            if deadline is not None and time.monotonic_ns() >= deadline:
                break
            if should_stop is not None and should_stop():
                break
            display_ns = self.clock.wait_frame().target_ns if self.clock is not None else time.monotonic_ns()
            eyes = self.target.begin_frame()
            with self.profiler.span("jitter_buffer"):
                for remote in self._remotes.values():
                    received = remote.feed.frame_for_display(display_ns)
                    if received is not None:
                        remote.shown = received
                        remote.instance.code = received.frame.code
                        remote.instance.frame = received.frame.sequence
                        # The sender's head turns about its own centre at the place the scene gives it; its
                        # position in the sender's room means nothing here.
                        turn = pose_matrix(np.zeros(3, np.float32), received.frame.head_pose.orientation)
                        remote.instance.transform = remote.base_transform @ turn
            if eyes:
                self.renderer.render(self.scene, eyes, self.profiler)
            with self.profiler.span("present"):
                self.target.present()
            present_ns = time.monotonic_ns()
            if eyes:
                run.frames_rendered += 1
                for remote in self._remotes.values():
                    if remote.shown is not None:
                        run.presented.append(FramePresented(remote.peer, remote.shown.frame.sequence,
                                                            remote.shown.capture_ns, present_ns))
            if self.on_presented is not None:
                self.on_presented(index)
            index += 1
        run.end_ns = time.monotonic_ns()
        return run
