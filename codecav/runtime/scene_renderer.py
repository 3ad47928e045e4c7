"""SceneRenderer: decodes every avatar instance once per frame and draws it into each eye's view."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import moderngl
import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.camera import View
from codecav.decoders import get_renderer
from codecav.decoders.base import AvatarDraw, AvatarHandle
from codecav.decoders.neural import DecodeBudget, DecoderModelError, OnnxNeuralDecoder
from codecav.gl_finish import finish
from codecav.runtime.profiler import Profiler, ProfilerOptions
from codecav.runtime.scene import Scene
from codecav.xr.base import EyeView

_NO_PROFILER = Profiler(ProfilerOptions(enabled=False))
log = logging.getLogger(__name__)


DROPPED_HOLD_NS = 1_000_000_000
"""A dropped decoder's avatar keeps showing its last good frame this long, then that frame in grey as a
placeholder (AvatarDraw.placeholder): the person is still in the call, their face is no longer live."""


@dataclass(frozen=True)
class RenderTimes:
    """When one SceneRenderer.render did its steps (profiler clock, ns)."""

    decoded: list[tuple[int, int]]
    """Per scene instance, when its decode began and ended (one reading ends one and begins the next)."""
    drawn_ns: int
    """When every eye was drawn (the end of the 'render' span)."""


@dataclass
class _LoadedAvatar:
    package: AvatarPackage
    decoder: OnnxNeuralDecoder
    dropped: DecoderModelError | None = None
    """Why its decoder was dropped, once it was."""
    dropped_ns: int = 0
    """When (the render clock)."""


def head_space_view_dir(head_to_world: np.ndarray, eye_world: np.ndarray) -> np.ndarray:
    """float32 [3] unit vector from the head origin towards `eye_world`, in head space."""
    eye_head = np.linalg.inv(head_to_world.astype(np.float64)) @ np.append(eye_world.astype(np.float64), 1.0)
    direction = eye_head[:3]
    norm = float(np.linalg.norm(direction))
    if norm < 1e-9:
        return np.array([0.0, 0.0, 1.0], np.float32)
    return (direction / norm).astype(np.float32)


class SceneRenderer:
    """Maps a Scene to the per-pixel GL pass: one neural decode per instance per frame, shared by both eyes."""

    def __init__(self, ctx: moderngl.Context, *, renderer: str = "pica", threads: int = 1) -> None:
        """`renderer` is a key of codecav.decoders.get_renderer ('pica' or 'full_texture')."""
        self.ctx = ctx
        self._gl = get_renderer(renderer)(ctx)
        self._threads = threads
        self._avatars: dict[str, _LoadedAvatar] = {}
        self._handles: list[tuple[str, AvatarHandle | None]] = []

    def add_avatar(self, key: str, package: AvatarPackage, budget: DecodeBudget | None = None) -> None:
        """Make an avatar package available to instances under `key`. With a `budget` (every avatar that came
        from someone else), a decoder that fails or blows it is dropped (see `dropped`); the others go on."""
        decoder = OnnxNeuralDecoder(package.decoder_onnx, threads=self._threads, budget=budget)
        self._avatars[key] = _LoadedAvatar(package, decoder)

    def dropped(self) -> dict[str, DecoderModelError]:
        """Avatar key -> why its decoder was dropped (a one-line error with a `reason` key)."""
        return {key: loaded.dropped for key, loaded in self._avatars.items() if loaded.dropped is not None}

    def _handle_for(self, index: int, key: str) -> AvatarHandle:
        # One GPU handle per instance (instances of one package still need their own geometry/features).
        while len(self._handles) <= index:
            self._handles.append(("", None))
        cached_key, handle = self._handles[index]
        if cached_key != key or handle is None:
            package = self._avatars[key].package
            if handle is not None:
                self._gl.release_avatar(handle)
            handle = self._gl.add_avatar(package.mesh, package.pixel_mlp, package.manifest.feature_map)
            self._handles[index] = (key, handle)
        return handle

    def remove_avatar(self, key: str) -> None:
        """Forget the avatar under `key` and release the GPU handles of instances that showed it."""
        self._avatars.pop(key, None)
        for index, (cached_key, handle) in enumerate(self._handles):
            if cached_key == key and handle is not None:
                self._gl.release_avatar(handle)
                self._handles[index] = ("", None)

    def release(self) -> None:
        """Release every GPU resource of this renderer."""
        self._gl.release()
        self._handles = []

    def render(self, scene: Scene, eyes: list[EyeView], profiler: Profiler | None = None) -> RenderTimes:
        """Decode every instance for the mean eye position, then draw all of them into every eye; with a
        profiler, each live decode is a 'decode' span (tagged with the instance's peer and frame) and drawing a
        'render' span. The spans tile the time: one clock reading ends a step and begins the next, so the time
        between the steps (a few Python statements, or the thread preempted there) belongs to the step after it
        and nothing falls between them. Returns those readings, on the profiler's clock."""
        spans = profiler if profiler is not None else _NO_PROFILER
        now = spans.clock.now_ns
        eye_mid = np.mean([ev.view.eye_position for ev in eyes], axis=0)
        draws = []
        decoded = []
        mark = now()
        for index in range(len(scene.instances)):
            began_ns = mark
            draw, live = self._decode(scene, index, eye_mid, now)
            mark = now()
            if draw is not None:
                draws.append(draw)
            if live:
                instance = scene.instances[index]
                spans.add("decode", began_ns, mark, frame=instance.frame, peer=instance.peer)
            decoded.append((began_ns, mark))
        for eye in eyes:
            self._gl.render(eye, draws, background=scene.background)
        drawn_ns = now()
        spans.add("render", mark, drawn_ns)
        return RenderTimes(decoded, drawn_ns)

    def _decode(self, scene: Scene, index: int, eye_mid: np.ndarray,
                now: Callable[[], int]) -> tuple[AvatarDraw | None, bool]:
        """Decode instance `index` into its GPU handle; the draw that shows it, and whether it was decoded live.
        An instance whose decoder was dropped shows its last good frame for DROPPED_HOLD_NS, then that frame as a
        grey placeholder (None when it never had a good frame: nothing to draw)."""
        instance = scene.instances[index]
        if instance.avatar_key not in self._avatars:
            raise ValueError(f"scene instance {index} uses unknown avatar {instance.avatar_key!r}")
        loaded = self._avatars[instance.avatar_key]
        if loaded.dropped is None:
            try:
                frame = loaded.decoder.decode(instance.code, head_space_view_dir(instance.transform, eye_mid))
            except DecoderModelError as exc:
                loaded.dropped, loaded.dropped_ns = exc, now()
                who = f"peer {instance.peer}" if instance.peer else instance.avatar_key
                log.warning("the avatar of %s is no longer decoded (%s): %s", who, exc.reason, exc)
            else:
                handle = self._handle_for(index, instance.avatar_key)
                self._gl.update(handle, frame)
                return AvatarDraw(handle, instance.transform), True
        cached_key, last = self._handles[index] if index < len(self._handles) else ("", None)
        if last is None or cached_key != instance.avatar_key:
            return None, False
        # Its last good frame for a moment, then the same frame in grey: not live, but still there.
        return AvatarDraw(last, instance.transform, placeholder=now() - loaded.dropped_ns > DROPPED_HOLD_NS), False

    def warm_up(self, scene: Scene, views: list[View], indices: list[int] | None = None) -> None:
        """Decode the instances `indices` (default: all) once and draw them into throw-away framebuffers the
        size of `views`: decoder sessions run once, GL programs, buffers and per-size render targets are built
        and the driver has compiled what it defers to the first draw. Nothing is profiled or shown."""
        chosen = range(len(scene.instances)) if indices is None else indices
        if not views or not chosen:
            return
        eye_mid = np.mean([v.eye_position for v in views], axis=0)
        now = _NO_PROFILER.clock.now_ns
        draws = [d for d, _live in (self._decode(scene, index, eye_mid, now) for index in chosen) if d is not None]
        made = []
        try:
            for view in views:
                size = (view.width, view.height)
                fb = self.ctx.framebuffer(color_attachments=[self.ctx.texture(size, 4)],
                                          depth_attachment=self.ctx.depth_texture(size))
                made.append(fb)
                self._gl.render(EyeView(view, fb), draws, background=scene.background)
            finish(self.ctx)
        finally:
            for fb in made:
                for attachment in (*fb.color_attachments, fb.depth_attachment):
                    if attachment is not None:
                        attachment.release()
                fb.release()
