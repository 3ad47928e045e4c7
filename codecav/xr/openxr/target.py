"""OpenXRTarget: stereo rendering into OpenXR swapchains through an EGL or GLX OpenGL context.

One frame: begin_frame() polls session events, runs xrWaitFrame/xrBeginFrame, locates the views and the
head at the predicted display time and returns one EyeView per eye whose framebuffer wraps the acquired
swapchain images; present() releases them and submits a projection layer (plus depth) with xrEndFrame.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import moderngl
import numpy as np

from codecav.camera import View
from codecav.clock import MONOTONIC, Clock, FrameClock
from codecav.latent import Gaze, HeadPose
from codecav.xr.base import EyeView, RenderTarget
from codecav.xr.errors import RenderTargetError
from codecav.xr.openxr.config import OpenXRConfig, OpenXRUnavailable, XrFrameTimes
from codecav.xr.openxr.gl import DepthCopier, GLBinding, create_binding
from codecav.xr.openxr.pose import quat_xyzw, vec3, view_from_pose
from codecav.xr.openxr.timing import FrameTimingRecorder, FrameTimingStats
from codecav.xr.openxr.tracking import (
    EYE_GAZE_EXTENSION,
    FACE_TRACKING_EXTENSION,
    EyeGazeSource,
    FaceSample,
    FaceTrackingSource,
)
from codecav.xr.openxr.xr_time import EXTENSION as TIMESPEC_EXTENSION
from codecav.xr.openxr.xr_time import XrTimeConverter

DEPTH_EXTENSION = "XR_KHR_composition_layer_depth"
"""Submitting depth with the projection layer (used when offered)."""
GL_SRGB8_ALPHA8 = 0x8C43
GL_RGBA8 = 0x8058
# Colour: sRGB storage first. moderngl leaves GL_FRAMEBUFFER_SRGB off, so shader output is stored as is
# and the compositor reads it as sRGB-encoded, which is what display-referred renderers write.
COLOR_FORMATS = (GL_SRGB8_ALPHA8, GL_RGBA8)
DEPTH_FORMATS = (0x8CAC, 0x81A6, 0x88F0, 0x81A5)  # DEPTH_COMPONENT32F, 24, DEPTH24_STENCIL8, 16


@dataclass
class _Eye:
    """Per-eye swapchains and the framebuffers built over their images."""

    width: int
    height: int
    color: Any
    color_images: list[int]
    depth: Any
    depth_images: list[int]
    placeholder_depth: moderngl.Texture
    framebuffers: dict[tuple[int, int], moderngl.Framebuffer]
    acquired: tuple[int, int] | None = None
    depth_framebuffers: dict[int, moderngl.Framebuffer] = field(default_factory=dict)
    """Depth-only framebuffers over the depth swapchain images, filled by a blit at present()."""


def _xr_error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class OpenXRTarget(RenderTarget):
    """Renders stereo views into an OpenXR runtime's swapchains (Monado, SteamVR, a Quest over Link...)."""

    def __init__(self, config: OpenXRConfig | None = None, clock: FrameClock | None = None) -> None:
        """Create instance, system, GL context, session and swapchains; wait for READY and begin the session.

        Raises OpenXRUnavailable (one line: what is missing and the fix) when there is no runtime,
        extension, headset or session. `clock`, if given, follows the predicted display time, and its Clock
        times the loop (it must be CLOCK_MONOTONIC's, the time base XrTime converts to).
        """
        self.config = config or OpenXRConfig()
        self.clock = clock
        """FrameClock that follows the runtime's predicted display time (if given)."""
        self.time_source: Clock = clock.clock if clock is not None else MONOTONIC
        """Where the loop's waits, time-outs and frame timings read time."""
        self.head_pose: HeadPose | None = None
        """Head (VIEW space) pose in the reference space at the last frame's predicted display time."""
        self.gaze: Gaze | None = None
        """Eye gaze at the last frame's predicted display time (None when unsupported or untracked)."""
        self.face: FaceSample | None = None
        """Face expression at the last frame's predicted display time (None when unsupported or invalid)."""
        self.notes: list[str] = []
        """One-line notes on optional features that are off and why (eye gaze, face tracking, depth)."""
        self.session_states: list[str] = []
        """Every session state entered, in order (IDLE, READY, SYNCHRONIZED, VISIBLE, FOCUSED, ...)."""
        self.predicted_display_time: int = 0
        """XrTime of the current (or last) frame's predicted display."""
        self.predicted_display_ns: int = 0
        """The same on CLOCK_MONOTONIC (codecav.clock.MONOTONIC), via XR_KHR_convert_timespec_time."""
        self.should_close = False
        """True once the runtime asked the session to exit or was lost."""
        self.stopped = False
        """True once the session was stopped (STOPPING: the runtime or `request_exit` ended it)."""
        self.lost: str = ""
        """Why the runtime was lost (one line), empty while it is there."""
        self.reference_space_changes = 0
        """Reference-space change events seen (the runtime recentred LOCAL/STAGE: recalibrate the seat)."""
        self.before_present: Callable[[list[EyeView]], None] | None = None
        """Called in present() with the frame's views while their swapchain images can still be read."""
        self.on_tracked: Callable[[], None] | None = None
        """Called in begin_frame once `head_pose`, `gaze` and `face` are located for the frame (the earliest moment
        a sender can use them)."""
        self.last_frame_times: XrFrameTimes | None = None
        """Timing of the last frame submitted (None before the first)."""
        self._timing = FrameTimingRecorder() if self.config.timing else None
        self._binding: GLBinding | None = None
        self._instance: Any = None
        self._session: Any = None
        self._spaces: list[Any] = []
        self._eyes: list[_Eye] = []
        self._depth_copier: DepthCopier | None = None
        self._running = False
        self._frame: Any = None
        self._frame_views: list[Any] = []
        self._eye_views: list[EyeView] = []
        self._t_waited = 0
        self._time: XrTimeConverter | None = None
        self._gaze: EyeGazeSource | None = None
        self._face: FaceTrackingSource | None = None
        if not self.config.loader_messages:
            os.environ.setdefault("XR_LOADER_DEBUG", "none")
        try:
            import xr
        except ImportError as exc:
            raise OpenXRUnavailable("pyopenxr is not installed; pip install pyopenxr") from exc
        self._xr = xr
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    # ---- setup -----------------------------------------------------------------------------------------
    def _create(self) -> None:
        xr, cfg = self._xr, self.config
        if cfg.graphics not in ("egl", "glx"):
            raise ValueError(f"unknown OpenXR graphics binding {cfg.graphics!r}; choose 'egl' or 'glx'")
        gl_ext = "XR_MNDX_egl_enable" if cfg.graphics == "egl" else "XR_KHR_opengl_enable"
        try:
            offered = {e.extension_name.decode() if isinstance(e.extension_name, bytes) else e.extension_name
                       for e in xr.enumerate_instance_extension_properties()}
        except xr.exception.RuntimeUnavailableError as exc:
            raise OpenXRUnavailable(
                "no OpenXR runtime found (loader found no active_runtime.json and XR_RUNTIME_JSON is unset); "
                "start Monado (monado-service) or SteamVR, or use the window/headless target") from exc
        except xr.exception.XrException as exc:
            raise OpenXRUnavailable(f"the OpenXR runtime failed to load ({_xr_error_line(exc)}); "
                                    "check that monado-service/SteamVR is running") from exc
        if gl_ext not in offered:
            other = "glx" if cfg.graphics == "egl" else "egl"
            raise OpenXRUnavailable(f"the OpenXR runtime does not offer {gl_ext}; use graphics='{other}' "
                                    "(CODECAV_XR_GRAPHICS) or a runtime with OpenGL support")
        # XR_MNDX_egl_enable builds on XR_KHR_opengl_enable (graphics requirements, swapchain image type).
        if "XR_KHR_opengl_enable" not in offered:
            raise OpenXRUnavailable("the OpenXR runtime does not offer XR_KHR_opengl_enable; "
                                    "use a runtime with OpenGL support (Monado, SteamVR)")
        wanted = [gl_ext, "XR_KHR_opengl_enable", TIMESPEC_EXTENSION, DEPTH_EXTENSION, EYE_GAZE_EXTENSION,
                  FACE_TRACKING_EXTENSION]
        self._enabled = {e for e in wanted if e in offered}
        if not cfg.depth:
            self._enabled.discard(DEPTH_EXTENSION)
        if not cfg.eye_gaze:
            self._enabled.discard(EYE_GAZE_EXTENSION)
        if not cfg.face_tracking:
            self._enabled.discard(FACE_TRACKING_EXTENSION)
        try:
            self._instance = xr.create_instance(xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo(application_name=cfg.app_name, engine_name="codecav"),
                enabled_extension_names=sorted(self._enabled)))
        except xr.exception.XrException as exc:
            raise OpenXRUnavailable(f"xrCreateInstance failed ({_xr_error_line(exc)}); "
                                    "check that the OpenXR runtime service is running") from exc
        try:
            self._system = xr.get_system(self._instance, xr.SystemGetInfo(
                form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.exception.XrException as exc:
            raise OpenXRUnavailable(f"no headset ({_xr_error_line(exc)}); connect and wake the HMD "
                                    "(Monado: SIMULATED_ENABLE=1 for a simulated one)") from exc
        props = xr.get_system_properties(self._instance, self._system)
        self.system_name = props.system_name.decode() if isinstance(props.system_name, bytes) else str(
            props.system_name)
        """The runtime's name for the headset."""
        self._check_gl_requirements()
        self._binding = create_binding(cfg.graphics)
        self.ctx = self._binding.ctx
        binding = self._binding.binding_struct()
        self._binding_struct = binding  # the session keeps a pointer to it
        try:
            self._session = xr.create_session(self._instance, xr.SessionCreateInfo(
                system_id=self._system, next=ctypes.cast(ctypes.pointer(binding), ctypes.c_void_p)))
        except xr.exception.XrException as exc:
            raise OpenXRUnavailable(f"xrCreateSession with {gl_ext} failed ({_xr_error_line(exc)}); "
                                    f"try graphics='{'glx' if cfg.graphics == 'egl' else 'egl'}'") from exc
        space_type = {"local": xr.ReferenceSpaceType.LOCAL, "stage": xr.ReferenceSpaceType.STAGE}.get(
            cfg.reference_space)
        if space_type is None:
            raise ValueError(f"unknown reference space {cfg.reference_space!r}; choose 'local' or 'stage'")
        self._space = self._reference_space(space_type)
        self._view_space = self._reference_space(xr.ReferenceSpaceType.VIEW)
        if TIMESPEC_EXTENSION in self._enabled:
            self._time = XrTimeConverter(self._instance)
        else:
            self.notes.append(f"{TIMESPEC_EXTENSION} not offered; the clock does not follow the display time")
        self._gaze = EyeGazeSource(self._instance, self._system, self._session, self._enabled)
        self._face = FaceTrackingSource(self._instance, self._system, self._session, self._enabled)
        self.notes += [n for n in (self._gaze.note, self._face.note) if n]
        action_sets = [s for s in (self._gaze.action_set,) if s is not None]
        if action_sets:
            xr.attach_session_action_sets(self._session, xr.SessionActionSetsAttachInfo(action_sets=action_sets))
        self._create_swapchains()
        self._wait_until_running(cfg.ready_timeout_s)

    def _check_gl_requirements(self) -> None:
        """xrGetOpenGLGraphicsRequirementsKHR must be called before xrCreateSession (through the proc address:
        pyopenxr's own wrapper module fails to import on Linux)."""
        xr = self._xr
        pfn = ctypes.cast(xr.get_instance_proc_addr(self._instance, "xrGetOpenGLGraphicsRequirementsKHR"),
                          xr.PFN_xrGetOpenGLGraphicsRequirementsKHR)
        requirements = xr.GraphicsRequirementsOpenGLKHR()
        result = xr.check_result(xr.Result(pfn(self._instance, self._system, ctypes.byref(requirements))))
        if result.is_exception():
            raise OpenXRUnavailable(f"xrGetOpenGLGraphicsRequirementsKHR failed ({_xr_error_line(result)})")

    def _reference_space(self, space_type: Any) -> Any:
        xr = self._xr
        space = xr.create_reference_space(self._session, xr.ReferenceSpaceCreateInfo(
            reference_space_type=space_type, pose_in_reference_space=xr.Posef()))
        self._spaces.append(space)
        return space

    def _create_swapchains(self) -> None:
        xr = self._xr
        formats = list(xr.enumerate_swapchain_formats(self._session))
        color_format = next((f for f in COLOR_FORMATS if f in formats), None)
        if color_format is None:
            raise OpenXRUnavailable(f"the runtime offers no RGBA8/SRGB8_ALPHA8 swapchain (offers {formats})")
        self.color_format = color_format
        """GL internal format of the colour swapchains."""
        depth_format = next((f for f in DEPTH_FORMATS if f in formats), None)
        self.depth_submitted = DEPTH_EXTENSION in self._enabled and depth_format is not None
        """True when depth swapchains are submitted with the projection layer."""
        if not self.depth_submitted and self.config.depth:
            self.notes.append(f"depth not submitted: {DEPTH_EXTENSION} or a depth swapchain format is missing")
        if self.depth_submitted:
            self._depth_copier = DepthCopier(self.ctx)
        views = xr.enumerate_view_configuration_views(
            self._instance, self._system, xr.ViewConfigurationType.PRIMARY_STEREO)
        for cv in views:
            w, h = int(cv.recommended_image_rect_width), int(cv.recommended_image_rect_height)
            color = self._swapchain(color_format, w, h, xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                                    | xr.SwapchainUsageFlags.SAMPLED_BIT)
            depth = None
            depth_images: list[int] = []
            if self.depth_submitted and depth_format is not None:
                depth = self._swapchain(depth_format, w, h, xr.SwapchainUsageFlags.DEPTH_STENCIL_ATTACHMENT_BIT)
                depth_images = self._images(depth)
            self._eyes.append(_Eye(w, h, color, self._images(color), depth, depth_images,
                                   self.ctx.depth_texture((w, h)), {}))

    def _swapchain(self, fmt: int, w: int, h: int, usage: Any) -> Any:
        xr = self._xr
        return xr.create_swapchain(self._session, xr.SwapchainCreateInfo(
            usage_flags=usage, format=fmt, sample_count=1, width=w, height=h, face_count=1, array_size=1,
            mip_count=1))

    def _images(self, swapchain: Any) -> list[int]:
        return [int(img.image) for img in self._xr.enumerate_swapchain_images(
            swapchain, self._xr.SwapchainImageOpenGLKHR)]

    def _wait_until_running(self, timeout_s: float) -> None:
        deadline = self.time_source.now_ns() + int(timeout_s * 1e9)
        while not self._running:
            self.poll_events()
            if self.should_close:
                raise OpenXRUnavailable("the OpenXR session exited before it started; restart the runtime")
            if self.time_source.now_ns() > deadline:
                seen = ", ".join(self.session_states) or "none"
                raise OpenXRUnavailable(f"the OpenXR session did not become READY in {timeout_s:.0f} s (states: "
                                        f"{seen}); put the headset on or check the runtime")
            self.time_source.sleep_ns(5_000_000)

    # ---- events ----------------------------------------------------------------------------------------
    @property
    def session_state(self) -> str:
        """The current session state name ("IDLE" before the first event)."""
        return self.session_states[-1] if self.session_states else "IDLE"

    def poll_events(self) -> None:
        """Drain the runtime's event queue and drive the session state machine (begin/end session)."""
        xr = self._xr
        while True:
            try:
                event = xr.poll_event(self._instance)
            except xr.EventUnavailable:
                return
            kind = xr.StructureType(event.type)
            if kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self._lose("the OpenXR runtime is going away (instance loss pending)")
            elif kind == xr.StructureType.EVENT_DATA_REFERENCE_SPACE_CHANGE_PENDING:
                self.reference_space_changes += 1
            elif kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                changed = ctypes.cast(ctypes.byref(event), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                self._on_state(xr.SessionState(changed.state))

    def _on_state(self, state: Any) -> None:
        xr = self._xr
        self.session_states.append(state.name)
        if state == xr.SessionState.READY:
            xr.begin_session(self._session, xr.SessionBeginInfo(xr.ViewConfigurationType.PRIMARY_STEREO))
            self._running = True
        elif state == xr.SessionState.STOPPING:
            xr.end_session(self._session)
            self._running = False
            self.stopped = True
        elif state == xr.SessionState.LOSS_PENDING:
            self._lose("the OpenXR session is being lost (LOSS_PENDING)")
        elif state == xr.SessionState.EXITING:
            self.should_close = True

    def _lose(self, why: str) -> None:
        self.lost = self.lost or why
        self.should_close = True
        self._running = False

    def request_exit(self) -> None:
        """Ask the runtime to end the session (xrRequestExitSession): it walks STOPPING ... EXITING, which the
        frame loop follows; nothing happens when the session is not running."""
        xr = self._xr
        if xr is None or self._session is None or not self._running:
            return
        try:
            xr.request_exit_session(self._session)
        except xr.exception.XrException as exc:
            if self._is_loss(exc):
                self._lose(f"the OpenXR runtime was lost ({_xr_error_line(exc)})")

    def _is_loss(self, exc: BaseException) -> bool:
        xr = self._xr
        return isinstance(exc, (xr.exception.SessionLostError, xr.exception.InstanceLostError))

    @property
    def eye_gaze_active(self) -> bool:
        """The runtime and headset give eye gaze (XR_EXT_eye_gaze_interaction with an eye tracker)."""
        return self._gaze is not None and self._gaze.active

    @property
    def face_tracking_active(self) -> bool:
        """The runtime and headset give face expression weights (XR_FB_face_tracking2)."""
        return self._face is not None and self._face.active

    def display_time_ns(self) -> int | None:
        """The predicted display time of the frame begun, on CLOCK_MONOTONIC (None until it is known)."""
        return self.predicted_display_ns or None

    # ---- frame loop --------------------------------------------------------------------------------------
    def begin_frame(self) -> list[EyeView]:
        """Wait for the next frame and return both eyes' views; [] when the runtime says not to render.
        A lost session or runtime ends the loop (`should_close`, `lost` says why) instead of raising."""
        xr = self._xr
        if self._frame is not None:
            raise RenderTargetError("begin_frame called twice; call present() after each begin_frame()")
        try:
            return self._begin_frame()
        except xr.exception.XrException as exc:
            if not self._is_loss(exc):
                raise
            self._lose(f"the OpenXR runtime was lost ({_xr_error_line(exc)})")
            self._frame, self._eye_views = None, []
            return []

    def _begin_frame(self) -> list[EyeView]:
        xr = self._xr
        self.poll_events()
        if not self._running or self.should_close:
            self.time_source.sleep_ns(10_000_000)  # no xrWaitFrame to pace us
            return []
        now = self.time_source.now_ns
        t0 = now()
        frame = xr.wait_frame(self._session, xr.FrameWaitInfo())
        t1 = now()
        xr.begin_frame(self._session, xr.FrameBeginInfo())
        t2 = now()
        self._frame, self._t_waited = frame, t1
        self._t_wait, self._t_begin = t1 - t0, t2 - t1
        self.predicted_display_time = int(frame.predicted_display_time)
        if self._time is not None:
            self.predicted_display_ns = self._time.to_monotonic_ns(self.predicted_display_time)
            if self.clock is not None:
                self.clock.follow(self.predicted_display_ns, int(frame.predicted_display_period))
        self._binding.make_current()  # type: ignore[union-attr]
        self._eye_views = []
        self._locate_head(frame.predicted_display_time)  # tracked for the LatentFrame even when not rendering
        if not frame.should_render:
            return []
        view_state, views = xr.locate_views(self._session, xr.ViewLocateInfo(
            view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO,
            display_time=frame.predicted_display_time, space=self._space))
        valid = xr.VIEW_STATE_POSITION_VALID_BIT | xr.VIEW_STATE_ORIENTATION_VALID_BIT
        if view_state.view_state_flags & valid != valid:
            return []
        self._frame_views = list(views)
        for eye, xr_view in zip(self._eyes, self._frame_views, strict=True):
            self._eye_views.append(EyeView(self._view(eye, xr_view), self._acquire(eye)))
        return list(self._eye_views)

    def _locate_head(self, xr_time: int) -> None:
        xr = self._xr
        location = xr.locate_space(self._view_space, self._space, xr_time)
        valid = xr.SPACE_LOCATION_POSITION_VALID_BIT | xr.SPACE_LOCATION_ORIENTATION_VALID_BIT
        if location.location_flags & valid == valid:
            self.head_pose = HeadPose(vec3(location.pose.position), quat_xyzw(location.pose.orientation))
        if self._gaze is not None:
            self.gaze = self._gaze.sample(self._session, self._view_space, xr_time)
        if self._face is not None:
            self.face = self._face.sample(xr_time)
        if self.on_tracked is not None:
            self.on_tracked()

    def _view(self, eye: _Eye, xr_view: Any) -> View:
        fov = xr_view.fov
        return view_from_pose(vec3(xr_view.pose.position), quat_xyzw(xr_view.pose.orientation),
                              (fov.angle_left, fov.angle_right, fov.angle_up, fov.angle_down),
                              self.config.near, self.config.far, eye.width, eye.height)

    def _acquire(self, eye: _Eye) -> moderngl.Framebuffer:
        xr = self._xr
        wait = xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION)
        color_index = xr.acquire_swapchain_image(eye.color, xr.SwapchainImageAcquireInfo())
        xr.wait_swapchain_image(eye.color, wait)
        depth_index = -1
        if eye.depth is not None:
            depth_index = xr.acquire_swapchain_image(eye.depth, xr.SwapchainImageAcquireInfo())
            xr.wait_swapchain_image(eye.depth, wait)
        eye.acquired = (color_index, depth_index)
        fb = eye.framebuffers.get(eye.acquired)
        if fb is None:
            # Rendering uses the placeholder depth texture, which moderngl knows as the framebuffer's depth:
            # renderers that build their own framebuffers over it (PiCA's G-buffer) then share the depth the
            # eye framebuffer really has. present() copies it into the depth swapchain image.
            color = self.ctx.external_texture(eye.color_images[color_index], (eye.width, eye.height), 4, 0, "f1")
            fb = self.ctx.framebuffer([color], eye.placeholder_depth)
            eye.framebuffers[eye.acquired] = fb
        if depth_index >= 0 and depth_index not in eye.depth_framebuffers:
            depth_fb = self.ctx.framebuffer(depth_attachment=eye.placeholder_depth)
            self._binding.attach_depth_texture(depth_fb, eye.depth_images[depth_index])  # type: ignore[union-attr]
            eye.depth_framebuffers[depth_index] = depth_fb
        return fb

    def read_rgb(self, index: int) -> np.ndarray:
        """uint8 [H, W, 3] of eye `index`'s swapchain image, top row first; valid between begin_frame and present."""
        if not self._eye_views:
            raise RenderTargetError("read_rgb needs a frame in progress; call it between begin_frame and present")
        view = self._eye_views[index].view
        raw = self._eye_views[index].framebuffer.read(components=3, alignment=1)
        image = np.frombuffer(raw, dtype=np.uint8).reshape(view.height, view.width, 3)
        return np.ascontiguousarray(image[::-1])

    def read_depth(self, index: int) -> np.ndarray:
        """float32 [H, W] window-space depth (1 = empty) of eye `index`'s depth attachment (the depth
        swapchain image when depth is submitted), top row first; valid between begin_frame and present."""
        if not self._eye_views:
            raise RenderTargetError("read_depth needs a frame in progress; call it between begin_frame and present")
        view = self._eye_views[index].view
        raw = self._eye_views[index].framebuffer.read(components=1, attachment=-1, dtype="f4", alignment=1)
        depth = np.frombuffer(raw, dtype=np.float32).reshape(view.height, view.width)
        return np.ascontiguousarray(depth[::-1])

    def present(self) -> None:
        """Release the swapchain images and submit the projection layer (with depth) for this frame; a lost
        session ends the loop instead of raising (see begin_frame)."""
        xr = self._xr
        if self._frame is None:
            return
        if self.before_present is not None and self._eye_views:
            self.before_present(list(self._eye_views))
        try:
            self._present()
        except xr.exception.XrException as exc:
            if not self._is_loss(exc):
                raise
            self._lose(f"the OpenXR runtime was lost ({_xr_error_line(exc)})")
            self._eye_views = []

    def _present(self) -> None:
        xr = self._xr
        frame = self._frame
        self._frame = None
        layers: list[Any] = []
        keep: list[Any] = []  # structs the layer points at must outlive xrEndFrame
        if self._eye_views:
            # No glFinish here: xrReleaseSwapchainImage/xrEndFrame synchronise GL work with the compositor.
            projection_views = (xr.CompositionLayerProjectionView * len(self._eyes))()
            for i, (eye, xr_view) in enumerate(zip(self._eyes, self._frame_views, strict=True)):
                xr.release_swapchain_image(eye.color, xr.SwapchainImageReleaseInfo())
                rect = xr.Rect2Di(xr.Offset2Di(0, 0), xr.Extent2Di(eye.width, eye.height))
                pv = projection_views[i]
                pv.type = xr.StructureType.COMPOSITION_LAYER_PROJECTION_VIEW
                pv.pose, pv.fov = xr_view.pose, xr_view.fov
                pv.sub_image = xr.SwapchainSubImage(eye.color, rect, 0)
                if eye.depth is not None:
                    if eye.acquired is not None and eye.acquired[1] >= 0:
                        assert self._depth_copier is not None
                        self._depth_copier.copy(eye.placeholder_depth, eye.depth_framebuffers[eye.acquired[1]])
                    xr.release_swapchain_image(eye.depth, xr.SwapchainImageReleaseInfo())
                    depth = xr.CompositionLayerDepthInfoKHR(xr.SwapchainSubImage(eye.depth, rect, 0), 0.0, 1.0,
                                                            self.config.near, self.config.far)
                    keep.append(depth)
                    pv.next = ctypes.cast(ctypes.pointer(depth), ctypes.c_void_p)
                eye.acquired = None
            layer = xr.CompositionLayerProjection(space=self._space, views=projection_views)
            keep += [projection_views, layer]
            layers.append(ctypes.byref(layer))
        t3 = self.time_source.now_ns()
        xr.end_frame(self._session, xr.FrameEndInfo(
            display_time=frame.predicted_display_time, environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE,
            layers=layers))
        t4 = self.time_source.now_ns()
        late = bool(self.predicted_display_ns) and t4 > self.predicted_display_ns
        self.last_frame_times = XrFrameTimes(self._t_waited - self._t_wait, self._t_waited, t3, t4,
                                             self.predicted_display_ns, int(frame.predicted_display_period), late,
                                             bool(layers))
        if self._timing is not None:
            self._timing.record(self._t_wait, self._t_begin, t4 - t3, t4 - self._t_waited,
                                int(frame.predicted_display_period), bool(layers), late)
        self._eye_views = []

    @property
    def time_converter(self) -> XrTimeConverter | None:
        """XrTime <-> CLOCK_MONOTONIC nanoseconds converter (None when XR_KHR_convert_timespec_time is missing)."""
        return self._time

    def eye_size(self) -> tuple[int, int]:
        """Recommended (width, height) of each eye's swapchain."""
        return (self._eyes[0].width, self._eyes[0].height) if self._eyes else (0, 0)

    def timing_stats(self) -> FrameTimingStats:
        """Frame timing so far (all zeros when OpenXRConfig.timing is off)."""
        return (self._timing or FrameTimingRecorder(1)).stats()

    # ---- shutdown ----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Request exit, end the session, destroy swapchains, spaces, session, instance and the GL context."""
        xr = getattr(self, "_xr", None)
        if xr is None:
            return
        if self._frame is not None:
            try:
                self.present()
            except xr.exception.XrException:
                pass
        if self._session is not None and self._running:
            try:
                xr.request_exit_session(self._session)
                deadline = self.time_source.now_ns() + 2_000_000_000
                while self._running and self.time_source.now_ns() < deadline:
                    self.poll_events()
                    self.time_source.sleep_ns(5_000_000)
            except xr.exception.XrException:
                pass
        self.before_present = self.on_tracked = None

        def quietly(destroy: Callable[[Any], Any], handle: Any) -> None:
            try:
                destroy(handle)
            except xr.exception.XrException:
                pass  # after a loss the runtime may refuse; the handles die with the instance anyway

        for eye in self._eyes:
            for fb in [*eye.framebuffers.values(), *eye.depth_framebuffers.values()]:
                fb.release()  # the swapchain textures themselves belong to the runtime
            eye.placeholder_depth.release()
            for swapchain in (eye.color, eye.depth):
                if swapchain is not None:
                    quietly(xr.destroy_swapchain, swapchain)
        self._eyes = []
        if self._depth_copier is not None:
            self._depth_copier.release()
            self._depth_copier = None
        for source in (self._gaze, self._face):
            if source is not None:
                try:
                    source.close()
                except xr.exception.XrException:
                    pass
        for space in self._spaces:
            quietly(xr.destroy_space, space)
        self._spaces = []
        if self._session is not None:
            quietly(xr.destroy_session, self._session)
            self._session = None
        if self._instance is not None:
            quietly(xr.destroy_instance, self._instance)
            self._instance = None
        if self._binding is not None:
            self._binding.close()
            self._binding = None
        self._xr = None
