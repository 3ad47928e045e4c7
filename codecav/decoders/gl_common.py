"""GPU pieces shared by the PiCA renderer and the full-texture baseline: per-avatar buffers, draw blocks, and
GlAvatarRenderer, their common base (program cache, handle checks, freeing)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import moderngl
import numpy as np

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp
from codecav.camera import View
from codecav.decoders.base import AvatarDraw, AvatarHandle, AvatarRenderer, DecodedFrame, camera_in_head
from codecav.decoders.mlp_layout import MlpShape, mlp_shape, pack_mlp

FEATURE_PRECISIONS = {"f16": "f2", "f32": "f4"}
"""Feature texture precision -> moderngl dtype (RGBA16F or RGBA32F)."""

DRAW_BLOCK_BINDING = 0
"""Uniform-block binding of DrawUniforms (shaders/draw_block.glsl)."""

MLP_BLOCK_BINDING = 1
"""Uniform-block binding of PixelMlpWeights."""

FEATURE_TEXTURE_UNIT = 0
"""Texture unit of the feature texture array."""

GBUFFER_SURFACE_UNIT = 2
"""Texture unit of the PiCA G-buffer (u, v, avatar id) in the deferred resolve pass."""

GBUFFER_POSITION_UNIT = 3
"""Texture unit of the PiCA G-buffer head-space positions."""

_DRAW_BLOCK_BYTES = 112  # std140: mat4 (64) + vec4 camera_head (16) + vec4 screen_rect (16) + vec4 draw_style (16)

PLACEHOLDER_BASE, PLACEHOLDER_GAIN = 0.35, 0.4
"""A placeholder's grey: base + gain x BT.601 luma of the colour it would have had (draw_block.glsl)."""


def draw_style_rgb(rgb: np.ndarray, placeholder: bool) -> np.ndarray:
    """NumPy reference of draw_block.glsl's draw_style: float RGB [..., 3] as a draw shows it."""
    if not placeholder:
        return rgb
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)
    return np.repeat((PLACEHOLDER_BASE + PLACEHOLDER_GAIN * luma)[..., None], 3, axis=-1)


def check_mesh(mesh: MeshTopology) -> None:
    """ValueError naming the array if the topology arrays do not fit together."""
    faces, uv, index = np.asarray(mesh.faces), np.asarray(mesh.uv), np.asarray(mesh.vertex_index)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"mesh faces must be [F, 3], got {faces.shape}")
    if uv.ndim != 2 or uv.shape[1] != 2 or index.shape != (uv.shape[0],):
        raise ValueError(f"mesh uv must be [R, 2] and vertex_index [R], got {uv.shape} and {index.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= uv.shape[0]):
        raise ValueError(f"mesh faces index render vertices outside 0..{uv.shape[0] - 1}")


def mirrored_half(faces: np.ndarray) -> int | None:
    """F / 2 when `faces` [F, 3] are T followed by T with every triangle wound the other way (a two-sided package:
    training.export.two_sided), else None. Drawing the first half with culling off covers exactly the pixels that
    drawing all F with back faces culled covers (each pixel sees the one copy that faces it), at half the
    triangles: on a software rasterizer, triangle setup is a large share of a dense head's cost."""
    count = len(faces)
    if count == 0 or count % 2:
        return None
    half = count // 2
    return half if np.array_equal(faces[half:], faces[:half, ::-1]) else None


def draw_culled(ctx: moderngl.Context, vao: moderngl.VertexArray, buffers: AvatarBuffers) -> None:
    """Draw the avatar's triangles as if back faces were culled (the caller enabled CULL_FACE): a two-sided mesh
    as its first half with culling off (mirrored_half), any other as it is."""
    if buffers.mirrored_half is None:
        vao.render(moderngl.TRIANGLES)
        return
    ctx.disable(moderngl.CULL_FACE)
    try:
        vao.render(moderngl.TRIANGLES, vertices=3 * buffers.mirrored_half)
    finally:
        ctx.enable(moderngl.CULL_FACE)


class AvatarBuffers:
    """One avatar's GL resources: positions (per frame), UVs, indices, feature texture array, MLP weights."""

    def __init__(
        self, ctx: moderngl.Context, mesh: MeshTopology, mlp: PixelMlp, feature_info: FeatureMapInfo, precision: str
    ) -> None:
        """Check the inputs against each other and allocate; ValueError saying what does not fit."""
        if precision not in FEATURE_PRECISIONS:
            raise ValueError(f"feature precision {precision!r} is not one of {sorted(FEATURE_PRECISIONS)}")
        check_mesh(mesh)
        self.shape: MlpShape = mlp_shape(mlp, feature_info.channels)
        """MLP shape; selects the program."""
        self.feature_info = feature_info
        """Feature-map shape the texture was allocated for."""
        self.vertex_index = np.asarray(mesh.vertex_index, dtype=np.int64)
        """Geometry row of each render vertex."""
        self.num_geometry_vertices = int(self.vertex_index.max()) + 1 if self.vertex_index.size else 0
        """Smallest V a decoded frame must have."""
        self._dtype = FEATURE_PRECISIONS[precision]
        rows = len(self.vertex_index)
        self.positions = ctx.buffer(reserve=max(rows, 1) * 12, dynamic=True)
        """float32 [R, 3] head-space positions of render vertices, written by write_frame."""
        self.uv = ctx.buffer(np.ascontiguousarray(mesh.uv, dtype=np.float32).tobytes())
        """float32 [R, 2] texture coordinates."""
        self.indices = ctx.buffer(np.ascontiguousarray(mesh.faces, dtype=np.int32).tobytes())
        """int32 [F, 3] triangles."""
        self.mirrored_half = mirrored_half(np.asarray(mesh.faces))
        """F / 2 for a two-sided mesh (draw_culled draws that many with culling off), else None."""
        self.features = ctx.texture_array(
            (feature_info.width, feature_info.height, feature_info.channels // 4), 4, dtype=self._dtype
        )
        """RGBA float texture array, one layer per 4 feature channels, LINEAR + CLAMP_TO_EDGE."""
        self.features.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.features.repeat_x = False
        self.features.repeat_y = False
        self.mlp = ctx.buffer(pack_mlp(mlp, self.shape).tobytes())
        """std140 vec4 weight block of pixel_mlp.glsl."""
        self.frames_written = 0
        """Number of write_frame calls (0: nothing to draw yet)."""
        self.bounds = np.zeros((2, 3))
        """float64 [2, 3] head-space AABB (min, max) of the last frame's geometry."""

    def write_frame(self, frame: DecodedFrame) -> None:
        """Expand the geometry to render vertices and upload it with the feature map."""
        geometry = np.asarray(frame.geometry)
        info = self.feature_info
        if geometry.ndim != 2 or geometry.shape[1] != 3 or geometry.shape[0] < self.num_geometry_vertices:
            raise ValueError(f"frame geometry must be [V >= {self.num_geometry_vertices}, 3], got {geometry.shape}")
        if frame.features.shape != (info.height, info.width, info.channels):
            raise ValueError(
                f"frame features must be [{info.height}, {info.width}, {info.channels}], got {frame.features.shape}"
            )
        positions = np.ascontiguousarray(geometry[self.vertex_index], dtype=np.float32)
        self.positions.write(positions.tobytes())
        by_axis = np.ascontiguousarray(positions.T)  # reducing rows of [3, N] is ~40x faster than axis 0 of [N, 3]
        self.bounds = np.stack([by_axis.min(axis=1), by_axis.max(axis=1)]).astype(np.float64)
        layers = frame.features.reshape(info.height, info.width, info.channels // 4, 4).transpose(2, 0, 1, 3)
        self.features.write(np.ascontiguousarray(layers, dtype=self._dtype).tobytes())
        self.frames_written += 1

    def bind_mlp_inputs(self) -> None:
        """Bind the MLP weights and the feature texture to MLP_BLOCK_BINDING and FEATURE_TEXTURE_UNIT."""
        self.mlp.bind_to_uniform_block(MLP_BLOCK_BINDING)
        self.features.use(FEATURE_TEXTURE_UNIT)

    def release(self) -> None:
        """Free the GL objects."""
        for obj in (self.positions, self.uv, self.indices, self.features, self.mlp):
            obj.release()


def screen_rect(mvp: np.ndarray, bounds: np.ndarray, view: View, margin_px: float = 2.0) -> np.ndarray:
    """NDC (x0, y0, x1, y1) covering the projected AABB `bounds` [2, 3], padded by `margin_px` and
    clamped to the screen; the whole screen if a corner is behind the eye; x0 >= x1 if off screen."""
    corners = np.array(
        [[bounds[i, 0], bounds[j, 1], bounds[k, 2], 1.0] for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    )
    clip = corners @ np.asarray(mvp, np.float64).T
    if np.any(clip[:, 3] <= 1e-6):
        return np.array([-1.0, -1.0, 1.0, 1.0])
    ndc = clip[:, :2] / clip[:, 3:4]
    pad = np.array([2.0 * margin_px / view.width, 2.0 * margin_px / view.height])
    low = np.clip(ndc.min(axis=0) - pad, -1.0, 1.0)
    high = np.clip(ndc.max(axis=0) + pad, -1.0, 1.0)
    return np.concatenate([low, high])


class DrawBlocks:
    """One uniform buffer holding every draw's DrawUniforms block of a frame, written once per render."""

    def __init__(self, ctx: moderngl.Context) -> None:
        """Allocate lazily; slot stride respects GL_UNIFORM_BUFFER_OFFSET_ALIGNMENT."""
        align = int(ctx.info.get("GL_UNIFORM_BUFFER_OFFSET_ALIGNMENT", 256))
        self._ctx = ctx
        self._stride = -(-_DRAW_BLOCK_BYTES // align) * align
        self._buffer: moderngl.Buffer | None = None
        self._last = np.zeros((0, self._stride // 4), dtype=np.float32)

    def write(self, view: View, draws: Sequence[AvatarDraw], bounds: Sequence[np.ndarray] | None = None) -> None:
        """Fill one block per draw: head->clip (column-major), the camera in head space with slot + 1 in w,
        the screen rectangle of the head-space AABB `bounds[i]` (whole screen when not given), and the draw's
        style (x: 1 for a placeholder)."""
        if not draws:
            return
        data = np.zeros((len(draws), self._stride // 4), dtype=np.float32)
        view_projection = np.asarray(view.projection, np.float64) @ np.asarray(view.view_matrix, np.float64)
        for i, draw in enumerate(draws):
            mvp = view_projection @ np.asarray(draw.model, np.float64)
            data[i, :16] = mvp.T.ravel()
            data[i, 16:19] = camera_in_head(draw.model, view)
            data[i, 19] = i + 1
            data[i, 20:24] = screen_rect(mvp, bounds[i], view) if bounds is not None else (-1, -1, 1, 1)
            data[i, 24] = 1.0 if draw.placeholder else 0.0
        if self._buffer is None or self._buffer.size < data.nbytes:
            if self._buffer is not None:
                self._buffer.release()
            self._buffer = self._ctx.buffer(reserve=max(data.nbytes, 4 * self._stride), dynamic=True)
        self._buffer.write(data.tobytes())
        self._last = data

    def rect(self, index: int) -> np.ndarray:
        """The screen rectangle written for draw `index` (NDC x0, y0, x1, y1)."""
        return self._last[index, 20:24].astype(np.float64)

    def bind(self, index: int) -> None:
        """Bind draw `index`'s block to DRAW_BLOCK_BINDING."""
        assert self._buffer is not None
        self._buffer.bind_to_uniform_block(DRAW_BLOCK_BINDING, offset=index * self._stride, size=_DRAW_BLOCK_BYTES)

    def release(self) -> None:
        """Free the buffer."""
        if self._buffer is not None:
            self._buffer.release()
            self._buffer = None


def bind_blocks(program: moderngl.Program) -> None:
    """Point the program's uniform blocks and sampler at codecav's fixed bindings."""
    if "DrawUniforms" in program:
        program["DrawUniforms"].binding = DRAW_BLOCK_BINDING  # type: ignore[union-attr]
    if "PixelMlpWeights" in program:
        program["PixelMlpWeights"].binding = MLP_BLOCK_BINDING  # type: ignore[union-attr]
    units = {"u_features": FEATURE_TEXTURE_UNIT, "u_gbuffer_surface": GBUFFER_SURFACE_UNIT,
             "u_gbuffer_position": GBUFFER_POSITION_UNIT}
    for name, unit in units.items():
        if name in program:
            program[name].value = unit  # type: ignore[union-attr]


class GlObject(Protocol):
    """Any moderngl object: something with release()."""

    def release(self) -> None:
        """Free the GL object."""


class GlAvatarHandle(AvatarHandle):
    """An avatar inside a GlAvatarRenderer: its AvatarBuffers plus the renderer's own GL objects for it."""

    def __init__(self, buffers: AvatarBuffers) -> None:
        """Hold the avatar's buffers."""
        self.buffers = buffers
        """GPU buffers and textures, the same layout for both renderers."""

    def gl_objects(self) -> Sequence[GlObject]:
        """The renderer's own GL objects of this avatar, freed (in this order) before its buffers."""
        return ()


HandleT = TypeVar("HandleT", bound=GlAvatarHandle)


class GlAvatarRenderer(AvatarRenderer, Generic[HandleT]):
    """The part both GL renderers share: MLP programs compiled per MLP shape, one shape-independent program,
    the avatars' handles (checked on every use) and the draw blocks, and freeing all of them."""

    def __init__(
        self, ctx: moderngl.Context, handle_type: type[HandleT], fixed_program: moderngl.Program, precision: str
    ) -> None:
        """`handle_type`: the handles this renderer makes; `fixed_program`: its shape-independent program,
        freed by release(); `precision`: feature texture precision of every avatar."""
        self.ctx = ctx
        self._handle_type = handle_type
        self._fixed_program = fixed_program
        self._precision = precision
        self._programs: dict[MlpShape, moderngl.Program] = {}
        self._handles: list[HandleT] = []
        self._draw_blocks = DrawBlocks(ctx)
        self._released = False

    @abstractmethod
    def _build_program(self, shape: MlpShape) -> moderngl.Program:
        """Compile the MLP program of `shape`, its blocks bound (called once per shape)."""

    @abstractmethod
    def _make_handle(self, buffers: AvatarBuffers, program: moderngl.Program) -> HandleT:
        """The handle of a new avatar with `buffers`, drawn with the MLP `program`."""

    def program_for(self, shape: MlpShape) -> moderngl.Program:
        """The MLP program of an MLP shape, compiled once and cached (weights are buffer data)."""
        program = self._programs.get(shape)
        if program is None:
            program = self._build_program(shape)
            self._programs[shape] = program
        return program

    def add_avatar(self, mesh: MeshTopology, mlp: PixelMlp, feature_info: FeatureMapInfo) -> HandleT:
        """Upload topology, UVs and MLP weights and allocate what the avatar needs; it is drawn after its
        first update()."""
        buffers = AvatarBuffers(self.ctx, mesh, mlp, feature_info, self._precision)
        handle = self._make_handle(buffers, self.program_for(buffers.shape))
        self._handles.append(handle)
        return handle

    def update(self, handle: AvatarHandle, frame: DecodedFrame) -> None:
        """Upload this frame's geometry (expanded to render vertices) and feature map."""
        self._own(handle).buffers.write_frame(frame)

    def release_avatar(self, handle: AvatarHandle) -> None:
        """Free one avatar's GL objects and buffers; safe to call twice."""
        if handle.released:
            return
        own = self._own(handle)
        for obj in own.gl_objects():
            obj.release()
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
            self._fixed_program.release()
            self._released = True
        self._draw_blocks.release()

    def _live(self, draws: Sequence[AvatarDraw]) -> tuple[list[AvatarDraw], list[HandleT]]:
        """The draws whose avatar has received a frame, and their handles (every handle checked first)."""
        handles = [self._own(d.handle) for d in draws]
        live = [i for i, h in enumerate(handles) if h.buffers.frames_written]
        return [draws[i] for i in live], [handles[i] for i in live]

    def _own(self, handle: AvatarHandle) -> HandleT:
        if not isinstance(handle, self._handle_type):
            raise ValueError(f"handle {handle!r} was not made by a {type(self).__name__}")
        if handle.released:
            raise ValueError("avatar handle was released; add the avatar again")
        return handle
