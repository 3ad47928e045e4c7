"""WindowTarget: a desktop window through GLFW; each view renders offscreen, present() shows them."""

from __future__ import annotations

import os
from typing import Any

import moderngl
import numpy as np

from codecav.camera import View
from codecav.shaders.loader import build_program
from codecav.xr.base import EyeView, RenderTarget
from codecav.xr.errors import RenderTargetError


class WindowTarget(RenderTarget):
    """A GLFW window showing one view, or two side by side (stereo preview)."""

    def __init__(self, views: list[View], title: str = "codecav", visible: bool = True) -> None:
        """Open the window sized to hold every view side by side; RenderTargetError if impossible."""
        import glfw  # imported here so headless use never needs a display library

        if not views:
            raise ValueError("WindowTarget needs at least one view")
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise RenderTargetError(
                "no display for a window (DISPLAY is unset); run under Xvfb (xvfb-run ...) or use the headless target"
            )
        if not glfw.init():
            raise RenderTargetError("GLFW could not initialise; check the X server and libgl1, or use --headless")
        self._glfw = glfw
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)
        self._views = list(views)
        total_w = sum(v.width for v in views)
        height = max(v.height for v in views)
        self._window: Any = glfw.create_window(total_w, height, title, None, None)
        if not self._window:
            glfw.terminate()
            raise RenderTargetError("GLFW could not create a GL 3.3 window; check the GL driver or use --headless")
        glfw.make_context_current(self._window)
        glfw.swap_interval(0)
        # GLX through GLFW: do not mix with a standalone EGL context current in the same process
        # (Mesa answers X_GLXMakeCurrent with BadAccess).
        self.ctx = moderngl.create_context()
        self._framebuffers = [
            self.ctx.framebuffer(
                color_attachments=[self.ctx.texture((v.width, v.height), 4)],
                depth_attachment=self.ctx.depth_texture((v.width, v.height)),
            )
            for v in self._views
        ]
        self._blit = build_program(self.ctx, "window_blit.glsl")
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], dtype=np.float32)
        self._quad_vbo = self.ctx.buffer(corners.tobytes())
        self._quad = self.ctx.vertex_array(self._blit, [(self._quad_vbo, "2f", "in_corner")])
        self.frames_presented = 0
        """How many frames present() has shown."""

    def begin_frame(self) -> list[EyeView]:
        """Poll window events and return the views with their offscreen framebuffers."""
        self._glfw.poll_events()
        self.should_close = bool(self._glfw.window_should_close(self._window))
        return [EyeView(v, fb) for v, fb in zip(self._views, self._framebuffers, strict=True)]

    def present(self) -> None:
        """Draw each view into its part of the window and swap buffers."""
        self.compose()
        self._glfw.swap_buffers(self._window)
        self.frames_presented += 1

    def compose(self) -> None:
        """Draw each view into its part of the window's back buffer (present() also swaps)."""
        screen = self._screen()
        screen.use()
        total_w = sum(v.width for v in self._views)
        x0 = 0
        for view, fb in zip(self._views, self._framebuffers, strict=True):
            x1 = x0 + view.width
            rect = self._blit["u_rect"]
            colour = fb.color_attachments[0]
            assert isinstance(rect, moderngl.Uniform) and isinstance(colour, moderngl.Texture)
            rect.value = (2 * x0 / total_w - 1, -1.0, 2 * x1 / total_w - 1, 1.0)
            colour.use(0)
            self._quad.render(moderngl.TRIANGLE_STRIP)
            x0 = x1

    def _screen(self) -> moderngl.Framebuffer:
        """The window's default framebuffer with its viewport set to the whole window."""
        screen = self.ctx.detect_framebuffer(0)
        w, h = self._glfw.get_framebuffer_size(self._window)
        screen.viewport = (0, 0, w, h)
        return screen

    def read_window_rgb(self) -> np.ndarray:
        """uint8 [H, W, 3] of the window's back buffer after compose(), top row first (for tests)."""
        screen = self._screen()
        w, h = screen.viewport[2], screen.viewport[3]
        raw = screen.read(viewport=(0, 0, w, h), components=3, alignment=1)
        return np.ascontiguousarray(np.frombuffer(raw, np.uint8).reshape(h, w, 3)[::-1])

    def close(self) -> None:
        """Destroy the window and terminate GLFW; safe to call twice."""
        if self._window is None:
            return
        for fb in self._framebuffers:
            for att in (*fb.color_attachments, fb.depth_attachment):
                if att is not None:
                    att.release()
            fb.release()
        self._quad.release()
        self._quad_vbo.release()
        self._blit.release()
        self._glfw.destroy_window(self._window)
        self._window = None
        self._glfw.terminate()
