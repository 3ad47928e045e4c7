"""PicaRenderer: PiCA per-pixel decoding in GLSL - the MLP runs in a fragment shader, once per covered pixel.

Shading modes (PicaOptions.shading), all drawing the same image:
- 'deferred' (default): every avatar is rasterized into a G-buffer (UV, avatar id, head-space position)
  by a trivial shader; then per avatar one quad over its screen rectangle runs the MLP where the
  G-buffer holds that avatar. Cost follows covered pixels, not triangle count or overdraw.
- 'prepass': depth-only pre-pass, then the mesh again with depth test EQUAL running the MLP.
- 'forward': one LESS pass running the MLP per fragment (overdraw runs it again).
On llvmpipe the deferred mode is the fastest: fragment shaders run in 4x4 blocks, and the forward
modes waste the MLP on the uncovered lanes of every block a small triangle's edge crosses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl
import numpy as np

from codecav.decoders.base import AvatarDraw
from codecav.decoders.gl_common import (
    FEATURE_PRECISIONS,
    GBUFFER_POSITION_UNIT,
    GBUFFER_SURFACE_UNIT,
    AvatarBuffers,
    GlAvatarHandle,
    GlAvatarRenderer,
    GlObject,
    bind_blocks,
    draw_culled,
)
from codecav.decoders.mlp_layout import MlpShape
from codecav.shaders.loader import build_program
from codecav.xr.base import EyeView

__all__ = ["SHADING_MODES", "AvatarDraw", "PicaHandle", "PicaOptions", "PicaRenderer"]

SHADING_MODES = ("deferred", "prepass", "forward")
"""PicaOptions.shading values (see the module docstring)."""

_MAX_EYE_FRAMEBUFFERS = 8  # G-buffer framebuffer pairs kept per size (2 eyes x 3 swapchain images fit)


@dataclass(frozen=True)
class PicaOptions:
    """How PicaRenderer draws; every field is fixed for the renderer's lifetime."""

    feature_precision: str = "f32"
    """Feature texture format: 'f32' (RGBA32F) or 'f16' (RGBA16F: half the memory and upload bandwidth,
    for GPUs; on llvmpipe NumPy's float16 conversion costs more than it saves, see benchmarks/RESULTS.md)."""
    shading: str = "deferred"
    """One of SHADING_MODES; 'deferred' and 'prepass' run the MLP exactly once per covered pixel."""
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Clear colour when render() is given none."""
    count_invocations: bool = False
    """Debug: count MLP runs in an SSBO (needs GL 4.3); read PicaRenderer.invocations."""

    def __post_init__(self) -> None:
        """Reject unknown values early."""
        if self.feature_precision not in FEATURE_PRECISIONS:
            raise ValueError(f"feature_precision {self.feature_precision!r} is not one of {sorted(FEATURE_PRECISIONS)}")
        if self.shading not in SHADING_MODES:
            raise ValueError(f"shading {self.shading!r} is not one of {SHADING_MODES}")


class PicaHandle(GlAvatarHandle):
    """A PicaRenderer avatar: its buffers and the vertex arrays of its passes."""

    def __init__(self, buffers: AvatarBuffers, vaos: dict[str, moderngl.VertexArray]) -> None:
        """Bundle what add_avatar made."""
        super().__init__(buffers)
        self.vaos = vaos
        """Vertex arrays by pass: 'depth' / 'shade' (forward modes) or 'gbuffer' / 'resolve' (deferred)."""

    def gl_objects(self) -> list[GlObject]:
        """The vertex arrays."""
        return list(self.vaos.values())


class _GBuffer:
    """The deferred G-buffer textures for one framebuffer size (shared by every eye of that size)."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int]) -> None:
        self.ctx = ctx
        self.surface = ctx.texture(size, 4, dtype="f4")
        self.position = ctx.texture(size, 4, dtype="f4")
        for tex in (self.surface, self.position):
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.depth = ctx.depth_renderbuffer(size)  # used only for eye framebuffers without depth
        # Framebuffer objects hold no storage: one pair per eye framebuffer, attaching that eye's depth so
        # the G-buffer pass writes the eye's depth directly (OpenXR swapchains rotate several of them).
        # Keyed by the eye framebuffer object itself (GL names can be reused after a target is closed).
        self._framebuffers: list[tuple[moderngl.Framebuffer, moderngl.Framebuffer, moderngl.Framebuffer]] = []

    def framebuffers_for(self, eye_fb: moderngl.Framebuffer) -> tuple[moderngl.Framebuffer, moderngl.Framebuffer]:
        """(surface + position MRT, surface only for clearing), both with the eye framebuffer's depth."""
        for owner, mrt, clear in self._framebuffers:
            if owner is eye_fb:
                return mrt, clear
        depth = eye_fb.depth_attachment if eye_fb.depth_attachment is not None else self.depth
        mrt = self.ctx.framebuffer(color_attachments=[self.surface, self.position], depth_attachment=depth)
        # Positions are read only where the surface id matches, so only the surface needs clearing.
        clear = self.ctx.framebuffer(color_attachments=[self.surface], depth_attachment=depth)
        self._framebuffers.append((eye_fb, mrt, clear))
        if len(self._framebuffers) > _MAX_EYE_FRAMEBUFFERS:  # targets come and go: forget the oldest
            _, old_mrt, old_clear = self._framebuffers.pop(0)
            old_mrt.release()
            old_clear.release()
        return mrt, clear

    def release(self) -> None:
        for _, mrt, clear in self._framebuffers:
            mrt.release()
            clear.release()
        self._framebuffers.clear()
        for obj in (self.surface, self.position, self.depth):
            obj.release()


class PicaRenderer(GlAvatarRenderer[PicaHandle]):
    """Per-pixel neural shading of any number of avatars into an eye view (codecav.decoders key 'pica')."""

    def __init__(self, ctx: moderngl.Context, options: PicaOptions | None = None) -> None:
        """Compile the shape-independent programs; MLP programs compile on first use of each MLP shape."""
        self.options = options or PicaOptions()
        self._version = "430 core" if self.options.count_invocations else "330 core"
        self._deferred = self.options.shading == "deferred"
        name = "pica_gbuffer.glsl" if self._deferred else "pica_depth.glsl"
        self._geometry_program = build_program(ctx, name, version=self._version)
        bind_blocks(self._geometry_program)
        super().__init__(ctx, PicaHandle, self._geometry_program, self.options.feature_precision)
        self._gbuffers: dict[tuple[int, int], _GBuffer] = {}
        self._counter: moderngl.Buffer | None = None
        if self.options.count_invocations:
            self._counter = ctx.buffer(reserve=4)
            self.reset_invocations()

    def _build_program(self, shape: MlpShape) -> moderngl.Program:
        defines = {"COUNT_INVOCATIONS": int(self.options.count_invocations), **shape.defines()}
        name = "pica_resolve.glsl" if self._deferred else "pica.glsl"
        program = build_program(self.ctx, name, defines=defines, variables=shape.variables(), version=self._version)
        bind_blocks(program)
        return program

    def _make_handle(self, buffers: AvatarBuffers, program: moderngl.Program) -> PicaHandle:
        ctx = self.ctx
        if self._deferred:
            vaos = {
                "gbuffer": ctx.vertex_array(
                    self._geometry_program, [(buffers.positions, "3f", "in_position"), (buffers.uv, "2f", "in_uv")],
                    index_buffer=buffers.indices, index_element_size=4,
                ),
                "resolve": ctx.vertex_array(program, []),
            }
        else:
            vaos = {
                "depth": ctx.vertex_array(
                    self._geometry_program, [(buffers.positions, "3f", "in_position")],
                    index_buffer=buffers.indices, index_element_size=4,
                ),
                "shade": ctx.vertex_array(
                    program, [(buffers.positions, "3f", "in_position"), (buffers.uv, "2f", "in_uv")],
                    index_buffer=buffers.indices, index_element_size=4,
                ),
            }
        return PicaHandle(buffers, vaos)

    def render(
        self, eye_view: EyeView, draws: Sequence[AvatarDraw], *, background: tuple[float, float, float] | None = None
    ) -> None:
        """Clear the eye's framebuffer and draw every avatar that has received a frame."""
        ctx, fb = self.ctx, eye_view.framebuffer
        live_draws, live = self._live(draws)
        red, green, blue = background if background is not None else self.options.background
        if not live:
            fb.use()
            fb.clear(red, green, blue, 1.0, depth=1.0)
            return
        self._draw_blocks.write(eye_view.view, live_draws, [h.buffers.bounds for h in live])
        if self._counter is not None:
            self._counter.bind_to_storage_buffer(0)
        ctx.front_face = "ccw"
        ctx.cull_face = "back"
        try:
            if self._deferred:
                self._render_deferred(fb, live, (red, green, blue))
            else:
                fb.use()
                fb.clear(red, green, blue, 1.0, depth=1.0)
                self._render_forward(fb, live)
        finally:
            fb.color_mask = (True, True, True, True)
            fb.depth_mask = True
            ctx.depth_func = "<"
            ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)

    def _render_deferred(
        self, fb: moderngl.Framebuffer, live: list[PicaHandle], rgb: tuple[float, float, float]
    ) -> None:
        ctx = self.ctx
        gbuffer = self._gbuffer_for(fb.size)
        mrt, clear = gbuffer.framebuffers_for(fb)
        fb.use()
        fb.clear(*rgb, 1.0, depth=1.0)
        clear.use()
        clear.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)  # id 0: no avatar; the depth is the eye's
        mrt.use()
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.depth_func = "<"
        for slot, handle in enumerate(live):
            self._draw_blocks.bind(slot)
            draw_culled(ctx, handle.vaos["gbuffer"], handle.buffers)
        ctx.disable(moderngl.CULL_FACE)
        ctx.depth_func = ">"
        fb.use()
        fb.depth_mask = False
        gbuffer.surface.use(GBUFFER_SURFACE_UNIT)
        gbuffer.position.use(GBUFFER_POSITION_UNIT)
        for slot, handle in enumerate(live):
            x0, y0, x1, y1 = self._draw_blocks.rect(slot)
            if x0 >= x1 or y0 >= y1:
                continue
            self._draw_blocks.bind(slot)
            handle.buffers.bind_mlp_inputs()
            handle.vaos["resolve"].render(moderngl.TRIANGLE_STRIP, vertices=4)

    def _render_forward(self, fb: moderngl.Framebuffer, live: list[PicaHandle]) -> None:
        ctx = self.ctx
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.depth_func = "<"
        if self.options.shading == "prepass":
            fb.color_mask = (False, False, False, False)
            for slot, handle in enumerate(live):
                self._draw_blocks.bind(slot)
                draw_culled(ctx, handle.vaos["depth"], handle.buffers)
            fb.color_mask = (True, True, True, True)
            fb.depth_mask = False
            ctx.depth_func = "=="
        for slot, handle in enumerate(live):
            self._draw_blocks.bind(slot)
            handle.buffers.bind_mlp_inputs()
            draw_culled(ctx, handle.vaos["shade"], handle.buffers)

    def _gbuffer_for(self, size: tuple[int, int]) -> _GBuffer:
        gbuffer = self._gbuffers.get(size)
        if gbuffer is None:
            gbuffer = _GBuffer(self.ctx, size)
            self._gbuffers[size] = gbuffer
        return gbuffer

    @property
    def invocations(self) -> int:
        """MLP runs since the last reset (needs PicaOptions(count_invocations=True))."""
        if self._counter is None:
            raise ValueError("PicaRenderer counts invocations only with PicaOptions(count_invocations=True)")
        return int(np.frombuffer(self._counter.read(), dtype=np.uint32)[0])

    def reset_invocations(self) -> None:
        """Zero the invocation counter."""
        if self._counter is not None:
            self._counter.write(np.zeros(1, np.uint32).tobytes())

    def release(self) -> None:
        """Free every avatar, program, G-buffer and buffer; safe to call twice."""
        super().release()
        for gbuffer in self._gbuffers.values():
            gbuffer.release()
        self._gbuffers.clear()
        if self._counter is not None:
            self._counter.release()
            self._counter = None
