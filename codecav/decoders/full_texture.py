"""FullTextureRenderer: the Deep Appearance Models baseline - decode the whole UV texture every frame.

Per avatar and eye: the same per-pixel MLP runs over every texel of a texture_size^2 UV texture with
one global view direction (head origin -> camera), then the mesh is drawn texture-mapped. The cost
is fixed by the texture size, however few pixels the avatar covers; PicaRenderer is the alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl

from codecav.decoders.base import AvatarDraw
from codecav.decoders.gl_common import (
    FEATURE_PRECISIONS,
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

__all__ = ["FullTextureHandle", "FullTextureOptions", "FullTextureRenderer"]

_TEXTURE_UNIT = 1  # the decoded RGB texture, beside the feature array on unit 0


@dataclass(frozen=True)
class FullTextureOptions:
    """How FullTextureRenderer draws; fixed for the renderer's lifetime."""

    texture_size: int = 1024
    """Side of the decoded RGB UV texture (DAM decodes 1024 x 1024)."""
    feature_precision: str = "f32"
    """Feature texture format: 'f32' (RGBA32F) or 'f16' (RGBA16F), as PicaOptions.feature_precision."""
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Clear colour when render() is given none."""

    def __post_init__(self) -> None:
        """Reject unusable values early."""
        if self.feature_precision not in FEATURE_PRECISIONS:
            raise ValueError(f"feature_precision {self.feature_precision!r} is not one of {sorted(FEATURE_PRECISIONS)}")
        if not 1 <= self.texture_size <= 8192:
            raise ValueError(f"texture_size must be in 1..8192, got {self.texture_size}")


class FullTextureHandle(GlAvatarHandle):
    """A FullTextureRenderer avatar: its buffers, decoded texture and vertex arrays."""

    def __init__(
        self,
        buffers: AvatarBuffers,
        program: moderngl.Program,
        texture: moderngl.Texture,
        texture_fbo: moderngl.Framebuffer,
        texture_vao: moderngl.VertexArray,
        mesh_vao: moderngl.VertexArray,
    ) -> None:
        """Bundle what add_avatar made."""
        super().__init__(buffers)
        self.program = program
        """MLP-over-UV program of this avatar's MLP shape."""
        self.texture = texture
        """RGBA8 decoded texture, LINEAR + CLAMP_TO_EDGE."""
        self.texture_fbo = texture_fbo
        """Framebuffer over `texture`."""
        self.texture_vao = texture_vao
        """Attribute-less full-viewport triangle."""
        self.mesh_vao = mesh_vao
        """Positions + UVs."""

    def gl_objects(self) -> list[GlObject]:
        """Vertex arrays, framebuffer and texture."""
        return [self.texture_vao, self.mesh_vao, self.texture_fbo, self.texture]


class FullTextureRenderer(GlAvatarRenderer[FullTextureHandle]):
    """The full-UV-texture baseline (codecav.decoders key 'full_texture'); same API as PicaRenderer."""

    def __init__(self, ctx: moderngl.Context, options: FullTextureOptions | None = None) -> None:
        """Compile the textured-mesh program; MLP programs compile per MLP shape on first use."""
        self.options = options or FullTextureOptions()
        self._mesh_program = build_program(ctx, "textured_mesh.glsl")
        bind_blocks(self._mesh_program)
        self._mesh_program["u_texture"].value = _TEXTURE_UNIT  # type: ignore[union-attr]
        super().__init__(ctx, FullTextureHandle, self._mesh_program, self.options.feature_precision)

    def _build_program(self, shape: MlpShape) -> moderngl.Program:
        program = build_program(self.ctx, "full_texture_mlp.glsl", defines=shape.defines(), variables=shape.variables())
        bind_blocks(program)
        size = float(self.options.texture_size)
        program["u_texture_size"].value = (size, size)  # type: ignore[union-attr]
        return program

    def _make_handle(self, buffers: AvatarBuffers, program: moderngl.Program) -> FullTextureHandle:
        size = self.options.texture_size
        texture = self.ctx.texture((size, size), 4)
        texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        texture.repeat_x = False
        texture.repeat_y = False
        return FullTextureHandle(
            buffers,
            program,
            texture,
            self.ctx.framebuffer(color_attachments=[texture]),
            self.ctx.vertex_array(program, []),
            self.ctx.vertex_array(
                self._mesh_program, [(buffers.positions, "3f", "in_position"), (buffers.uv, "2f", "in_uv")],
                index_buffer=buffers.indices, index_element_size=4,
            ),
        )

    def render(
        self, eye_view: EyeView, draws: Sequence[AvatarDraw], *, background: tuple[float, float, float] | None = None
    ) -> None:
        """Decode each avatar's full UV texture for this eye, then draw the textured meshes."""
        ctx, fb = self.ctx, eye_view.framebuffer
        live_draws, live = self._live(draws)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._draw_blocks.write(eye_view.view, live_draws)
        for slot, handle in enumerate(live):
            handle.texture_fbo.use()
            self._draw_blocks.bind(slot)  # the camera in head space gives the global view direction
            handle.buffers.bind_mlp_inputs()
            handle.texture_vao.render(moderngl.TRIANGLES, vertices=3)
        fb.use()
        red, green, blue = background if background is not None else self.options.background
        fb.clear(red, green, blue, 1.0, depth=1.0)
        if not live:
            return
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.front_face = "ccw"
        ctx.cull_face = "back"
        ctx.depth_func = "<"
        try:
            for slot, handle in enumerate(live):
                self._draw_blocks.bind(slot)
                handle.texture.use(_TEXTURE_UNIT)
                draw_culled(ctx, handle.mesh_vao, handle.buffers)
        finally:
            ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
