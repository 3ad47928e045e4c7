"""Renders the posed studio head from calibrated cameras with moderngl (EGL works headless):
an RGB image per camera and the texture that camera sees, unwrapped into the UV atlas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import moderngl
import numpy as np

from codecav.shaders.loader import build_program
from codecav.training.studio.errors import StudioError
from codecav.training.studio.head_model import HeadModel
from codecav.training.studio.rig import Camera

NEAR, FAR = 0.05, 10.0
"""Clip planes in metres."""


@dataclass(frozen=True)
class Lighting:
    """Directional lights fixed in head space (the head pose is the identity)."""

    directions: tuple[tuple[float, float, float], ...] = ((0.5, 0.6, 0.8), (-0.7, 0.1, 0.6), (0.0, 0.4, -1.0))
    """Vectors from the head towards each light (normalised when used): key, fill, rim."""
    colours: tuple[tuple[float, float, float], ...] = ((1.0, 0.97, 0.92), (0.45, 0.5, 0.6), (0.35, 0.35, 0.35))
    """Linear RGB intensity of each light."""
    ambient: tuple[float, float, float] = (0.22, 0.22, 0.24)
    """Linear RGB ambient term."""
    background: tuple[float, float, float] = (0.1, 0.1, 0.1)
    """sRGB background colour of the images."""


@dataclass(frozen=True)
class RenderedView:
    """One camera's image and unwrapped texture of one frame."""

    image: np.ndarray
    """uint8 [H, W, 3] sRGB, row 0 at the top."""
    texture: np.ndarray
    """uint8 [T, T, 3] what the camera saw per atlas texel (row 0 = v 0), black where unseen."""
    visible: np.ndarray
    """bool [T, T] atlas texels this camera saw."""


@dataclass(frozen=True)
class RenderedFrame:
    """Every camera's image of one frame and the texture averaged over the cameras that saw each texel."""

    images: dict[str, np.ndarray]
    """Camera name -> uint8 [H, W, 3] sRGB image, row 0 at the top."""
    average: np.ndarray
    """uint8 [T, T, 3] mean of the cameras' unwrapped textures over those that saw each texel (row 0 = v 0)."""
    views: np.ndarray
    """int32 [T, T] how many cameras saw each texel."""
    textures: dict[str, np.ndarray]
    """Camera name -> uint8 [T, T, 3] that camera's unwrapped texture (empty unless asked for)."""


def projection_from_intrinsics(k: np.ndarray, width: int, height: int) -> np.ndarray:
    """float32 [4, 4] GL projection for OpenCV intrinsics; with gl_from_cv it maps pixel rows top-down."""
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    return np.array([
        [2 * fx / width, 0, 1 - 2 * cx / width, 0],
        [0, 2 * fy / height, 2 * cy / height - 1, 0],
        [0, 0, -(FAR + NEAR) / (FAR - NEAR), -2 * FAR * NEAR / (FAR - NEAR)],
        [0, 0, -1, 0],
    ], dtype=np.float32)


def camera_mvp(camera: Camera) -> np.ndarray:
    """float32 [4, 4] clip-from-head matrix of `camera` (column vectors)."""
    view = np.eye(4)
    view[:3] = np.diag([1.0, -1.0, -1.0]) @ camera.extrinsics  # OpenCV camera -> GL eye
    return (projection_from_intrinsics(camera.intrinsics, camera.width, camera.height) @ view).astype(np.float32)


def vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """float32 [V, 3] area-weighted unit normals of geometry vertices for triangles `faces` [F, 3]."""
    p = positions.astype(np.float64)
    n = np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])
    out = np.zeros_like(p)
    for k in range(3):
        for c in range(3):
            out[:, c] += np.bincount(faces[:, k], weights=n[:, c], minlength=len(p))
    return (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def write_lighting(program: moderngl.Program, light: Lighting) -> None:
    """An image-pass program's lights (unit directions, colours, ambient) and its albedo on texture unit 0."""
    dirs = np.asarray(light.directions, dtype=np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    _uniform(program, "u_light_dir").write(dirs.tobytes())
    _uniform(program, "u_light_rgb").write(np.asarray(light.colours, dtype=np.float32).tobytes())
    _uniform(program, "u_ambient").value = tuple(light.ambient)
    _uniform(program, "u_albedo").value = 0


def _uniform(program: moderngl.Program, name: str) -> moderngl.Uniform:
    """The uniform `name` of `program` (typed; KeyError if the driver optimised it away)."""
    return cast(moderngl.Uniform, program[name])


def create_context() -> moderngl.Context:
    """A standalone EGL context (GL 3.3+); StudioError with the fix if there is none."""
    try:
        return moderngl.create_context(standalone=True, backend="egl")  # type: ignore[arg-type]  # stub says dict
    except Exception as exc:  # moderngl raises bare Exceptions for missing EGL/drivers
        raise StudioError(
            f"cannot create a headless OpenGL context via EGL ({' '.join(str(exc).split())}); "
            "install libegl1 and libgl1-mesa-dri"
        ) from exc


class StudioRenderer:
    """Draws one head (topology fixed, positions per frame) into images and unwrapped textures."""

    def __init__(
        self, ctx: moderngl.Context, model: HeadModel, albedo: np.ndarray, width: int, height: int,
        texture_size: int, lighting: Lighting | None = None,
    ) -> None:
        """Upload the topology and albedo; allocate the image and atlas framebuffers."""
        self.ctx = ctx
        """The GL context everything lives in."""
        self.model = model
        """The head being drawn."""
        self.lighting = lighting or Lighting()
        """Lights of every image."""
        self.width, self.height, self.texture_size = width, height, texture_size
        mesh = model.mesh
        self._index = np.asarray(mesh.vertex_index, dtype=np.int64)
        self._geo_faces = self._index[np.asarray(mesh.faces)]
        rows = len(self._index)
        self._pos = ctx.buffer(reserve=rows * 12, dynamic=True)
        self._nrm = ctx.buffer(reserve=rows * 12, dynamic=True)
        self._uv = ctx.buffer(np.ascontiguousarray(mesh.uv, dtype=np.float32).tobytes())
        region = model.vertex_region[self._index].astype(np.float32)
        self._region = ctx.buffer(region.tobytes())
        self._ibo = ctx.buffer(np.ascontiguousarray(mesh.faces, dtype=np.int32).tobytes())
        self._head = build_program(ctx, "studio/head.glsl")
        self._unwrap = build_program(ctx, "studio/unwrap.glsl")
        self._head_vao = ctx.vertex_array(self._head, [
            (self._pos, "3f", "in_position"), (self._nrm, "3f", "in_normal"), (self._uv, "2f", "in_uv"),
            (self._region, "1f", "in_region"),
        ], index_buffer=self._ibo, index_element_size=4)
        self._unwrap_vao = ctx.vertex_array(self._unwrap, [
            (self._pos, "3f", "in_position"), (self._nrm, "3f", "in_normal"), (self._uv, "2f", "in_uv"),
        ], index_buffer=self._ibo, index_element_size=4)
        tex = np.ascontiguousarray(albedo[..., :3], dtype=np.uint8)
        self._albedo = ctx.texture((tex.shape[1], tex.shape[0]), 3, tex.tobytes())
        self._albedo.build_mipmaps()
        self._albedo.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._colour = ctx.texture((width, height), 4)
        self._depth = ctx.depth_texture((width, height))
        self._depth.compare_func = ""  # sampled as plain depth values in the unwrap pass
        self._image_fbo = ctx.framebuffer(color_attachments=[self._colour], depth_attachment=self._depth)
        self._atlas = ctx.texture((texture_size, texture_size), 4)
        self._atlas_fbo = ctx.framebuffer(color_attachments=[self._atlas])
        self._accum = ctx.texture((texture_size, texture_size), 4, dtype="f4")
        self._accum_fbo = ctx.framebuffer(color_attachments=[self._accum])
        write_lighting(self._head, self.lighting)
        _uniform(self._unwrap, "u_image").value = 1
        _uniform(self._unwrap, "u_depth").value = 2
        _uniform(self._unwrap, "u_depth_bias").value = 2e-4

    def set_positions(self, positions: np.ndarray) -> None:
        """Upload geometry positions [V, 3] (head space, metres) and their normals for the next views."""
        pos = np.asarray(positions, dtype=np.float32)
        if pos.shape != self.model.positions.shape:
            raise ValueError(f"positions must have shape {self.model.positions.shape}, got {pos.shape}")
        normals = vertex_normals(pos, self._geo_faces)
        self._pos.write(np.ascontiguousarray(pos[self._index]).tobytes())
        self._nrm.write(np.ascontiguousarray(normals[self._index]).tobytes())

    def _check(self, camera: Camera) -> None:
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(
                f"camera {camera.name} is {camera.width}x{camera.height}, renderer {self.width}x{self.height}"
            )

    def _image_program(self) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The image pass's program and vertex array (a subclass may shade the head its own way)."""
        return self._head, self._head_vao

    def _bind_image_textures(self) -> None:
        """Bind what the image program samples."""
        self._albedo.use(0)

    def _image_pass(self, camera: Camera) -> np.ndarray:
        """Draw the head into the image framebuffer (kept for the unwrap pass) and read it back."""
        ctx = self.ctx
        program, vao = self._image_program()
        self._image_fbo.use()
        ctx.disable(moderngl.BLEND)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        self._image_fbo.clear(*self.lighting.background, 1.0, depth=1.0)
        _uniform(program, "u_mvp").write(camera_mvp(camera).T.tobytes())
        _uniform(program, "u_camera").value = tuple(float(c) for c in camera.centre)
        self._bind_image_textures()
        vao.render(moderngl.TRIANGLES)
        raw = np.frombuffer(self._image_fbo.read(components=3), dtype=np.uint8)
        return raw.reshape(self.height, self.width, 3)[::-1].copy()

    def _unwrap_pass(self, camera: Camera, fbo: moderngl.Framebuffer, accumulate: bool) -> None:
        """Draw what `camera` saw into the atlas `fbo`, replacing it or adding to it."""
        ctx = self.ctx
        fbo.use()
        ctx.disable(moderngl.DEPTH_TEST)
        if accumulate:
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.ONE, moderngl.ONE
        else:
            ctx.disable(moderngl.BLEND)
            fbo.clear(0.0, 0.0, 0.0, 0.0)
        _uniform(self._unwrap, "u_mvp").write(camera_mvp(camera).T.tobytes())
        _uniform(self._unwrap, "u_camera").value = tuple(float(c) for c in camera.centre)
        self._colour.use(1)
        self._depth.use(2)
        self._unwrap_vao.render(moderngl.TRIANGLES)
        ctx.disable(moderngl.BLEND)

    def render(self, camera: Camera, unwrap: bool = True) -> RenderedView:
        """Image (and, if `unwrap`, the unwrapped texture) of the uploaded positions seen by `camera`."""
        self._check(camera)
        image = self._image_pass(camera)
        size = self.texture_size
        if not unwrap:
            return RenderedView(image, np.zeros((size, size, 3), np.uint8), np.zeros((size, size), bool))
        self._unwrap_pass(camera, self._atlas_fbo, accumulate=False)
        atlas = np.frombuffer(self._atlas_fbo.read(components=4), dtype=np.uint8).reshape(size, size, 4)
        return RenderedView(image=image, texture=atlas[..., :3].copy(), visible=atlas[..., 3] > 127)

    def render_frame(self, cameras: tuple[Camera, ...] | list[Camera], camera_textures: bool = False) -> RenderedFrame:
        """Images from every camera and their average unwrapped texture, summed on the GPU (one read-back);
        with `camera_textures` also each camera's own texture (an extra pass and read-back per camera)."""
        size = self.texture_size
        self._accum_fbo.use()
        self._accum_fbo.clear(0.0, 0.0, 0.0, 0.0)
        images: dict[str, np.ndarray] = {}
        textures: dict[str, np.ndarray] = {}
        for camera in cameras:
            self._check(camera)
            images[camera.name] = self._image_pass(camera)
            self._unwrap_pass(camera, self._accum_fbo, accumulate=True)
            if camera_textures:
                self._unwrap_pass(camera, self._atlas_fbo, accumulate=False)
                atlas = np.frombuffer(self._atlas_fbo.read(components=3), dtype=np.uint8)
                textures[camera.name] = atlas.reshape(size, size, 3).copy()
        total = np.frombuffer(self._accum_fbo.read(components=4, dtype="f4"), dtype=np.float32)
        total = total.reshape(size, size, 4)
        seen = total[..., 3:4]
        average = (255.0 * total[..., :3] / np.maximum(seen, 1.0) + 0.5).clip(0, 255).astype(np.uint8)
        return RenderedFrame(images=images, average=average, views=seen[..., 0].round().astype(np.int32),
                             textures=textures)

    def release(self) -> None:
        """Free the GL objects (the context stays)."""
        for obj in (self._head_vao, self._unwrap_vao, self._head, self._unwrap, self._pos, self._nrm, self._uv,
                    self._region, self._ibo, self._albedo, self._image_fbo, self._colour, self._depth,
                    self._atlas_fbo, self._atlas, self._accum_fbo, self._accum):
            obj.release()
