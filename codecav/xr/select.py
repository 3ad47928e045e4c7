"""open_best_target: the headset when an OpenXR runtime answers, else a window, else headless."""

from __future__ import annotations

import os

from codecav.camera import View
from codecav.xr.base import RenderTarget
from codecav.xr.errors import RenderTargetError
from codecav.xr.openxr.config import OpenXRConfig, OpenXRUnavailable
from codecav.xr.openxr.target import OpenXRTarget


def open_best_target(
    views_fallback: list[View], prefer_xr: bool, config: OpenXRConfig | None = None
) -> tuple[RenderTarget, str]:
    """The best target available and a one-line note of what was chosen and why.

    With `prefer_xr`, an OpenXRTarget is tried first (`config` with CODECAV_XR_* overrides); without a
    runtime, extension or headset it falls back to a WindowTarget (if DISPLAY is set) or a HeadlessTarget
    showing `views_fallback`.
    RenderTargetError only when even the headless target cannot be created.
    """
    reason = "OpenXR not requested"
    if prefer_xr:
        try:
            target = OpenXRTarget(OpenXRConfig.from_env(config))
        except OpenXRUnavailable as exc:
            reason = f"OpenXR unavailable ({exc})"
        else:
            eyes = target.eye_size()
            extra = f"; {'; '.join(target.notes)}" if target.notes else ""
            return target, (f"OpenXR: {target.system_name} via {target.config.graphics.upper()}, "
                            f"{eyes[0]}x{eyes[1]} per eye{extra}")
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        from codecav.xr.window import WindowTarget

        try:
            return WindowTarget(views_fallback), f"{reason}; using a desktop window"
        except RenderTargetError as exc:
            reason = f"{reason}; no window ({exc})"
    from codecav.xr.headless import HeadlessTarget

    return HeadlessTarget(views_fallback), f"{reason}; rendering headless (EGL)"
