"""PicaRenderer: PiCA per-pixel decoding in GLSL - the MLP runs in the fragment shader, once per covered pixel.

Each frame: a depth-only pre-pass over every avatar, then a shading pass with depth test EQUAL, so
hidden surfaces and uncovered pixels never run the MLP (only what a viewer sees costs anything).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl
import numpy as np

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp
from codecav.decoders.base import AvatarDraw, AvatarHandle, AvatarRenderer, DecodedFrame
from codecav.decoders.gl_common import (
    FEATURE_PRECISIONS,
    FEATURE_TEXTURE_UNIT,
    MLP_BLOCK_BINDING,
    AvatarBuffers,
    DrawBlocks,
    bind_blocks,
)
from codecav.decoders.mlp_layout import MlpShape
from codecav.shaders.loader import build_program
from codecav.xr.base import EyeView

__all__ = ["AvatarDraw", "PicaHandle", "PicaOptions", "PicaRenderer"]


@dataclass(frozen=True)
class PicaOptions:
    """How PicaRenderer draws; every field is fixed for the renderer's lifetime."""

    feature_precision: str = "f16"
    """Feature texture format: 'f16' (RGBA16F, half the upload) or 'f32' (RGBA32F)."""
    depth_prepass: bool = True
    """Depth pre-pass + EQUAL shading pass (MLP once per covered pixel); False: one LESS pass, which
    runs the MLP again for every overdrawn fragment."""
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Clear colour when render() is given none."""
    count_invocations: bool = False
    """Debug: count shading-pass fragment-shader runs in an SSBO (GLSL 4.30); see PicaRenderer.invocations."""

    def __post_init__(self) -> None:
        """Reject unknown precisions early."""
        if self.feature_precision not in FEATURE_PRECISIONS:
            raise ValueError(f"feature_precision {self.feature_precision!r} is not one of {sorted(FEATURE_PRECISIONS)}")


class PicaHandle(AvatarHandle):
    """A PicaRenderer avatar: its buffers and vertex arrays for both passes."""

    def __init__(
        self, buffers: AvatarBuffers, depth_vao: moderngl.VertexArray, shade_vao: moderngl.VertexArray
    ) -> None:
        """Bundle what add_avatar made."""
        self.buffers = buffers
        """GPU buffers and textures."""
        self.depth_vao = depth_vao
        """Positions only, for the depth pre-pass."""
        self.shade_vao = shade_vao
        """Positions + UVs, for the shading pass."""


class PicaRenderer(AvatarRenderer):
    """Per-pixel neural shading of any number of avatars into an eye view (codecav.decoders key 'pica')."""

    def __init__(self, ctx: moderngl.Context, options: PicaOptions | None = None) -> None:
        """Compile the depth program; shading programs compile on first use of each MLP shape."""
        self.ctx = ctx
        self.options = options or PicaOptions()
        self._version = "430 core" if self.options.count_invocations else "330 core"
        self._depth_program = build_program(ctx, "pica.glsl", defines={"DEPTH_ONLY": 1}, version=self._version)
        bind_blocks(self._depth_program)
        self._programs: dict[MlpShape, moderngl.Program] = {}
        self._handles: list[PicaHandle] = []
        self._draw_blocks = DrawBlocks(ctx)
        self._counter: moderngl.Buffer | None = None
        self._released = False
        if self.options.count_invocations:
            self._counter = ctx.buffer(reserve=4)
            self.reset_invocations()

    def program_for(self, shape: MlpShape) -> moderngl.Program:
        """The shading program of an MLP shape, compiled once and cached (weights are buffer data)."""
        program = self._programs.get(shape)
        if program is None:
            defines = {"DEPTH_ONLY": 0, "COUNT_INVOCATIONS": int(self.options.count_invocations), **shape.defines()}
            program = build_program(self.ctx, "pica.glsl", defines=defines, version=self._version)
            bind_blocks(program)
            self._programs[shape] = program
        return program

    def add_avatar(self, mesh: MeshTopology, mlp: PixelMlp, feature_info: FeatureMapInfo) -> PicaHandle:
        """Upload topology, UVs and MLP weights; draw it after the first update()."""
        buffers = AvatarBuffers(self.ctx, mesh, mlp, feature_info, self.options.feature_precision)
        program = self.program_for(buffers.shape)
        depth_vao = self.ctx.vertex_array(
            self._depth_program, [(buffers.positions, "3f", "in_position")], index_buffer=buffers.indices,
            index_element_size=4,
        )
        shade_vao = self.ctx.vertex_array(
            program, [(buffers.positions, "3f", "in_position"), (buffers.uv, "2f", "in_uv")],
            index_buffer=buffers.indices, index_element_size=4,
        )
        handle = PicaHandle(buffers, depth_vao, shade_vao)
        self._handles.append(handle)
        return handle

    def update(self, handle: AvatarHandle, frame: DecodedFrame) -> None:
        """Upload this frame's geometry (expanded to render vertices) and feature map."""
        self._own(handle).buffers.write_frame(frame)

    def render(
        self, eye_view: EyeView, draws: Sequence[AvatarDraw], *, background: tuple[float, float, float] | None = None
    ) -> None:
        """Clear the eye's framebuffer and draw every avatar that has received a frame."""
        ctx, fb = self.ctx, eye_view.framebuffer
        handles = [self._own(d.handle) for d in draws]
        live = [i for i, h in enumerate(handles) if h.buffers.frames_written]
        fb.use()
        red, green, blue = background if background is not None else self.options.background
        fb.clear(red, green, blue, 1.0, depth=1.0)
        if not live:
            return
        self._draw_blocks.write(eye_view.view, [draws[i] for i in live])
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.front_face = "ccw"
        ctx.cull_face = "back"
        try:
            if self.options.depth_prepass:
                ctx.depth_func = "<"
                fb.color_mask = (False, False, False, False)
                for slot, i in enumerate(live):
                    self._draw_blocks.bind(slot)
                    handles[i].depth_vao.render(moderngl.TRIANGLES)
                fb.color_mask = (True, True, True, True)
                fb.depth_mask = False
                ctx.depth_func = "=="
            else:
                ctx.depth_func = "<"
            if self._counter is not None:
                self._counter.bind_to_storage_buffer(0)
            for slot, i in enumerate(live):
                buffers = handles[i].buffers
                self._draw_blocks.bind(slot)
                buffers.mlp.bind_to_uniform_block(MLP_BLOCK_BINDING)
                buffers.features.use(FEATURE_TEXTURE_UNIT)
                handles[i].shade_vao.render(moderngl.TRIANGLES)
        finally:
            fb.color_mask = (True, True, True, True)
            fb.depth_mask = True
            ctx.depth_func = "<"
            ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)

    @property
    def invocations(self) -> int:
        """Shading-pass fragment-shader runs since the last reset (needs options.count_invocations)."""
        if self._counter is None:
            raise ValueError("PicaRenderer counts invocations only with PicaOptions(count_invocations=True)")
        return int(np.frombuffer(self._counter.read(), dtype=np.uint32)[0])

    def reset_invocations(self) -> None:
        """Zero the invocation counter."""
        if self._counter is not None:
            self._counter.write(np.zeros(1, np.uint32).tobytes())

    def release_avatar(self, handle: AvatarHandle) -> None:
        """Free one avatar's vertex arrays, buffers and textures; safe to call twice."""
        if handle.released:
            return
        own = self._own(handle)
        own.depth_vao.release()
        own.shade_vao.release()
        own.buffers.release()
        own.released = True
        self._handles.remove(own)

    def release(self) -> None:
        """Free every avatar, program and buffer; safe to call twice."""
        for handle in list(self._handles):
            self.release_avatar(handle)
        for program in self._programs.values():
            program.release()
        self._programs.clear()
        if not self._released:
            self._depth_program.release()
            self._released = True
        self._draw_blocks.release()
        if self._counter is not None:
            self._counter.release()
            self._counter = None

    def _own(self, handle: AvatarHandle) -> PicaHandle:
        if not isinstance(handle, PicaHandle):
            raise ValueError(f"handle {handle!r} was not made by a PicaRenderer")
        if handle.released:
            raise ValueError("avatar handle was released; add the avatar again")
        return handle
