"""How an OpenXRTarget is set up (OpenXRConfig), what it reports of each frame, and its one error."""

from __future__ import annotations

import os
from dataclasses import dataclass

from codecav.xr.errors import RenderTargetError


class OpenXRUnavailable(RenderTargetError):
    """No OpenXR runtime, extension, headset or session: the app should fall back to a window or headless."""


@dataclass(frozen=True)
class XrFrameTimes:
    """When the last frame went through the runtime (CLOCK_MONOTONIC ns), for traces."""

    wait_start_ns: int
    """xrWaitFrame called."""
    wait_end_ns: int
    """xrWaitFrame returned (the runtime released the loop)."""
    end_start_ns: int
    """xrEndFrame called."""
    end_end_ns: int
    """xrEndFrame returned."""
    predicted_display_ns: int
    """The frame's predicted display time (0 without XR_KHR_convert_timespec_time)."""
    period_ns: int
    """The runtime's predicted display period."""
    late: bool
    """xrEndFrame returned after the predicted display time."""
    rendered: bool
    """The frame carried a projection layer."""


@dataclass(frozen=True)
class OpenXRConfig:
    """How OpenXRTarget sets up the session; `from_env` applies CODECAV_XR_* overrides."""

    graphics: str = "egl"
    """"egl" (XR_MNDX_egl_enable, no display) or "glx" (XR_KHR_opengl_enable through a hidden GLFW window)."""
    reference_space: str = "local"
    """"local" (seated, origin at the startup head pose) or "stage" (room scale, origin on the floor)."""
    near: float = 0.05
    """Near clip plane in metres."""
    far: float = 100.0
    """Far clip plane in metres."""
    depth: bool = True
    """Submit depth swapchains when the runtime offers XR_KHR_composition_layer_depth."""
    eye_gaze: bool = True
    """Read eye gaze when the runtime and headset support it."""
    face_tracking: bool = True
    """Read face expressions when the runtime and headset support it."""
    timing: bool = True
    """Record per-frame wait/begin/end durations (a few clock reads per frame)."""
    ready_timeout_s: float = 5.0
    """How long the constructor waits for the session to become READY."""
    app_name: str = "codecav"
    """Application name reported to the runtime."""
    loader_messages: bool = False
    """Let the OpenXR loader print its diagnostics to stderr; off sets XR_LOADER_DEBUG=none unless the
    environment already sets it (the loader's multi-line errors would bury OpenXRUnavailable's one line)."""

    @staticmethod
    def from_env(base: OpenXRConfig | None = None) -> OpenXRConfig:
        """`base` with CODECAV_XR_GRAPHICS (egl|glx) and CODECAV_XR_SPACE (local|stage) applied."""
        config = base or OpenXRConfig()
        return OpenXRConfig(
            **{**config.__dict__,
               "graphics": os.environ.get("CODECAV_XR_GRAPHICS", config.graphics),
               "reference_space": os.environ.get("CODECAV_XR_SPACE", config.reference_space)})
