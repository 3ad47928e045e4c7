"""HeadlessTarget: offscreen rendering through EGL (Mesa llvmpipe or a GPU), no display needed."""

from __future__ import annotations

import moderngl
import numpy as np

from codecav.camera import View
from codecav.gl_finish import finish
from codecav.xr.base import EyeView, RenderTarget
from codecav.xr.errors import RenderTargetError


def create_headless_context() -> moderngl.Context:
    """A standalone GL 3.3+ context through EGL; RenderTargetError with the apt fix if it fails."""
    try:
        return moderngl.create_context(standalone=True, backend="egl", require=330)  # type: ignore[arg-type]  # stub says dict
    except Exception as exc:  # moderngl raises bare Exception subclasses from glcontext
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderTargetError(
            f"cannot create an EGL OpenGL context ({first}); install Mesa: "
            "apt-get install libegl1 libgl1 libgl1-mesa-dri"
        ) from exc


class HeadlessTarget(RenderTarget):
    """Mono or stereo views rendered into offscreen RGBA8 + depth framebuffers."""

    def __init__(
        self,
        views: list[View],
        ctx: moderngl.Context | None = None,
        samples: int = 0,
    ) -> None:
        """Create one framebuffer per view; `ctx` defaults to a new standalone EGL context."""
        if not views:
            raise ValueError("HeadlessTarget needs at least one view")
        self.ctx = ctx if ctx is not None else create_headless_context()
        self._views = list(views)
        self._framebuffers = [
            self.ctx.framebuffer(
                color_attachments=[self.ctx.texture((v.width, v.height), 4)],
                depth_attachment=self.ctx.depth_texture((v.width, v.height)),
            )
            for v in self._views
        ]
        self.frames_presented = 0
        """How many frames present() has finished."""

    def set_views(self, views: list[View]) -> None:
        """Replace the views' poses/projections (sizes must stay the same)."""
        if [(v.width, v.height) for v in views] != [(v.width, v.height) for v in self._views]:
            raise ValueError("set_views cannot change the number or size of views")
        self._views = list(views)

    def begin_frame(self) -> list[EyeView]:
        """The current views with their framebuffers."""
        return [EyeView(v, fb) for v, fb in zip(self._views, self._framebuffers, strict=True)]

    def present(self) -> None:
        """Finish GL work for the frame (nothing to show headless), other Python threads running meanwhile."""
        finish(self.ctx)
        self.frames_presented += 1

    def read_rgb(self, index: int = 0) -> np.ndarray:
        """uint8 [H, W, 3] image of view `index`, top row first."""
        view = self._views[index]
        finish(self.ctx)  # the read would wait too, holding the GIL
        raw = self._framebuffers[index].read(components=3, alignment=1)
        image = np.frombuffer(raw, dtype=np.uint8).reshape(view.height, view.width, 3)
        return np.ascontiguousarray(image[::-1])

    def read_depth(self, index: int = 0) -> np.ndarray:
        """float32 [H, W] window-space depth in [0, 1] of view `index`, top row first (1 = empty)."""
        view = self._views[index]
        finish(self.ctx)
        depth_tex = self._framebuffers[index].depth_attachment
        assert depth_tex is not None
        raw = depth_tex.read(alignment=1)  # type: ignore[union-attr]
        depth = np.frombuffer(raw, dtype=np.float32).reshape(view.height, view.width)
        return np.ascontiguousarray(depth[::-1])

    def close(self) -> None:
        """Release framebuffers (the context is left to the caller when it was passed in)."""
        for fb in self._framebuffers:
            for att in (*fb.color_attachments, fb.depth_attachment):
                if att is not None:
                    att.release()
            fb.release()
        self._framebuffers = []
