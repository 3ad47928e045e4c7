"""The render-target interface every backend (headless, window, OpenXR) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import moderngl

from codecav.camera import View


@dataclass(frozen=True)
class EyeView:
    """A view plus the framebuffer to draw it into for the current frame."""

    view: View
    """Pose and projection."""
    framebuffer: moderngl.Framebuffer
    """Colour + depth framebuffer sized view.width x view.height."""


class RenderTarget(ABC):
    """Where frames go: a headless framebuffer, a window or an OpenXR swapchain."""

    ctx: moderngl.Context
    """The GL context everything for this target is drawn with."""
    should_close: bool = False
    """True once the user or the runtime asked to stop (window closed, XR session exiting)."""

    @abstractmethod
    def begin_frame(self) -> list[EyeView]:
        """Start a frame and return the views to draw (1 for mono, 2 for stereo)."""

    @abstractmethod
    def present(self) -> None:
        """Finish the frame begun by begin_frame and show or submit it."""

    def display_time_ns(self) -> int | None:
        """When the frame begun will be shown, on CLOCK_MONOTONIC, if the target predicts it (OpenXR's predicted
        display time); None: it is shown when presented."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the target's GL and window/XR resources; safe to call twice."""
