"""The studio renderer for heads that wear scanned skin (the ICT rig): the StudioRenderer's image
and unwrap passes, with the image pass drawn by `shaders/studio/skin.glsl` (specular and height maps,
wrapped diffuse, a soft key and fill). The MakeHuman head keeps `head.glsl` untouched."""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

from codecav.shaders.loader import build_program
from codecav.training.studio.head_model import HeadModel
from codecav.training.studio.render import Lighting, StudioRenderer, _uniform, write_lighting
from codecav.training.studio.scan_skin import SkinMaps

__all__ = ["SKIN_LIGHTING", "SkinOptions", "SkinRenderer", "make_skin_renderer"]

SKIN_LIGHTING = Lighting(
    directions=((0.55, 0.45, 0.75), (-0.75, 0.05, 0.55), (-0.2, 0.5, -1.0)),
    colours=((1.05, 1.0, 0.95), (0.32, 0.34, 0.38), (0.45, 0.45, 0.45)),
    ambient=(0.2, 0.2, 0.22),
    background=(0.1, 0.1, 0.1),
)
"""A soft key up and to the avatar's left, a dim cool fill from the right, a rim from behind-above."""

HEIGHT_SCALE_M = 0.0015
"""Metres of relief per unit of the height map (a 255-level swing is 1.5 mm: pores, stubble, wrinkles)."""


@dataclass(frozen=True)
class SkinOptions:
    """What the skin shader reads besides the albedo."""

    height_scale_m: float = HEIGHT_SCALE_M
    """Relief of the height map (0 turns the normal detail off)."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.height_scale_m < 0.01):
            raise ValueError(f"height_scale_m must be in [0, 0.01) metres, got {self.height_scale_m}")


class SkinRenderer(StudioRenderer):
    """A StudioRenderer whose image pass uses the skin shader with specular and height maps."""

    def __init__(
        self, ctx: moderngl.Context, model: HeadModel, maps: SkinMaps, width: int, height: int,
        texture_size: int, lighting: Lighting | None = None, options: SkinOptions | None = None,
    ) -> None:
        """Upload the maps and build the skin program beside the base renderer's objects."""
        super().__init__(ctx, model, maps.albedo, width, height, texture_size, lighting or SKIN_LIGHTING)
        opts = options or SkinOptions()
        self._skin = build_program(ctx, "studio/skin.glsl")
        self._skin_vao = ctx.vertex_array(self._skin, [
            (self._pos, "3f", "in_position"), (self._nrm, "3f", "in_normal"), (self._uv, "2f", "in_uv"),
            (self._region, "1f", "in_region"),
        ], index_buffer=self._ibo, index_element_size=4)
        self._spec_tex = self._single_channel(maps.specular)
        self._height_tex = self._single_channel(maps.height)
        write_lighting(self._skin, self.lighting)
        _uniform(self._skin, "u_specular").value = 3
        _uniform(self._skin, "u_height").value = 4
        _uniform(self._skin, "u_height_scale").value = opts.height_scale_m
        _uniform(self._skin, "u_texel").value = 1.0 / maps.height.shape[0]

    def _single_channel(self, image: np.ndarray) -> moderngl.Texture:
        data = np.ascontiguousarray(image, dtype=np.uint8)
        tex = self.ctx.texture((data.shape[1], data.shape[0]), 1, data.tobytes())
        tex.build_mipmaps()
        tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        return tex

    def _image_program(self) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The skin shader (specular and height maps) instead of the studio's head shader."""
        return self._skin, self._skin_vao

    def _bind_image_textures(self) -> None:
        self._albedo.use(0)
        self._spec_tex.use(3)
        self._height_tex.use(4)

    def release(self) -> None:
        """Free the skin objects and the base renderer's."""
        for obj in (self._skin_vao, self._skin, self._spec_tex, self._height_tex):
            obj.release()
        super().release()


def make_skin_renderer(
    ctx: moderngl.Context, width: int, height: int, texture_size: int, identity: np.ndarray | None = None,
) -> tuple[HeadModel, SkinRenderer]:
    """The ICT rig (identity mode weights `identity`) as a studio HeadModel and a SkinRenderer wearing the
    committed scanned skin (`data/ict_skin`)."""
    from codecav.training.studio.ict_rig import load_ict_face_model, to_head_model
    from codecav.training.studio.scan_skin import load_skin_maps

    model = to_head_model(load_ict_face_model(), identity)
    return model, SkinRenderer(ctx, model, load_skin_maps(), width, height, texture_size)
