"""PicaRenderer on llvmpipe against the NumPy reference rasterizer + MLP (independent of GL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import moderngl
import numpy as np
import pytest

from codecav.camera import project_point, rotation_y, translation
from codecav.decoders.base import AvatarDraw, DecodedFrame
from codecav.decoders.full_texture import FullTextureRenderer
from codecav.decoders.pica_gl import SHADING_MODES, PicaOptions, PicaRenderer
from codecav.decoders.pixel_mlp_reference import reference_pica_image
from codecav.decoders.procedural import procedural_avatar
from codecav.xr.headless import HeadlessTarget
from tests.decoders.conftest import (
    SIZE,
    SMALL,
    as_reference,
    constant_colour_mlp,
    draw_once,
    make_view,
    silhouette_band,
    uv_seam_band,
)

pytestmark = pytest.mark.gl

BACKGROUND = (0.2, 0.3, 0.4)
VIEWS = {"front-left": (0.12, 0.06, 0.5), "right-above": (-0.35, 0.25, 0.3)}


@pytest.fixture
def target(gl_ctx: moderngl.Context) -> Iterator[HeadlessTarget]:
    """A SIZE x SIZE headless target on the session context (the view is set per test)."""
    t = HeadlessTarget([make_view((0, 0, 1))], ctx=gl_ctx)
    yield t
    t.close()


@pytest.mark.parametrize("shading", SHADING_MODES)
@pytest.mark.parametrize(
    ("activation", "precision", "hidden"), [("relu", "f32", (16, 16)), ("sine", "f16", (8, 8))]
)
@pytest.mark.parametrize("view_name", sorted(VIEWS))
def test_glsl_matches_numpy_reference(
    gl_ctx: moderngl.Context, target: HeadlessTarget, activation: str, precision: str, hidden: tuple[int, ...],
    view_name: str, shading: str
) -> None:
    view = make_view(VIEWS[view_name])
    target.set_views([view])
    channels = 8 if activation == "relu" else 4
    avatar = procedural_avatar(3, activation=activation, uv_frequencies=3, channels=channels, hidden=hidden)
    model = translation(0.01, -0.02, 0.0) @ rotation_y(0.4)
    renderer = PicaRenderer(gl_ctx, PicaOptions(feature_precision=precision, shading=shading))
    rgb, depth = draw_once(target, renderer, [(avatar, model)], BACKGROUND)
    renderer.release()
    ref = reference_pica_image([as_reference(avatar, model, precision == "f16")], view, BACKGROUND)
    gl_mask, ref_mask = depth < 1.0, ref.fragments.mask
    assert ref_mask.sum() > 0.15 * SIZE * SIZE
    disagree = gl_mask ^ ref_mask
    assert not (disagree & ~silhouette_band(ref_mask)).any(), "coverage differs away from the silhouette"
    assert disagree.sum() <= 0.01 * ref_mask.sum()
    seam = uv_seam_band(ref.fragments, 0, avatar.mesh.uv)
    assert seam.sum() <= 0.02 * ref_mask.sum()
    both = gl_mask & ref_mask & ~seam
    diff = np.abs(rgb.astype(np.int16) - ref.rgb.astype(np.int16)).max(axis=-1)
    assert diff[both].max() <= 2, f"max |GL - reference| = {diff[both].max()}/255"
    assert np.all(rgb[~gl_mask] == ref.rgb[~ref_mask][0])  # background everywhere else
    np.testing.assert_allclose(depth[both], ref.fragments.depth[both], atol=1e-4)


def two_overlapping(near_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two heads overlapping on screen: models for (red, green); the first is nearer iff near_first."""
    near, far = translation(-0.04, 0.0, 0.12), translation(0.05, 0.01, -0.05)
    return (near, far) if near_first else (far, near)


@pytest.mark.parametrize("shading", SHADING_MODES)
@pytest.mark.parametrize("red_in_front", [True, False])
@pytest.mark.parametrize("draw_order", ["red-first", "green-first"])
def test_nearer_avatar_occludes(gl_ctx: moderngl.Context, target: HeadlessTarget, red_in_front: bool,
                                draw_order: str, shading: str) -> None:
    view = make_view((0.0, 0.0, 0.6))
    target.set_views([view])
    base = procedural_avatar(0, **SMALL)
    red = replace(base, mlp=constant_colour_mlp(base.mlp, (0.9, 0.1, 0.1)))
    green = replace(base, mlp=constant_colour_mlp(base.mlp, (0.1, 0.9, 0.1)))
    red_model, green_model = two_overlapping(red_in_front)
    placed = [(red, red_model), (green, green_model)]
    if draw_order == "green-first":
        placed.reverse()
    renderer = PicaRenderer(gl_ctx, PicaOptions(shading=shading))
    rgb, _ = draw_once(target, renderer, placed)
    red_alone, _ = draw_once(target, renderer, [(red, red_model)])
    green_alone, _ = draw_once(target, renderer, [(green, green_model)])
    renderer.release()
    red_cov, green_cov = np.any(red_alone != red_alone[0, 0], -1), np.any(green_alone != green_alone[0, 0], -1)
    overlap = red_cov & green_cov & ~silhouette_band(red_cov) & ~silhouette_band(green_cov)
    assert overlap.sum() > 100
    winner = red_alone if red_in_front else green_alone
    assert np.array_equal(rgb[overlap], winner[overlap])
    only_red = red_cov & ~green_cov & ~silhouette_band(red_cov)
    assert np.array_equal(rgb[only_red], red_alone[only_red])


def test_avatars_land_where_their_head_origins_project(gl_ctx: moderngl.Context, target: HeadlessTarget) -> None:
    view = make_view((0.0, 0.1, 1.1))
    target.set_views([view])
    base = procedural_avatar(1, **SMALL)
    colours = [(0.9, 0.1, 0.1), (0.1, 0.9, 0.1), (0.1, 0.1, 0.9), (0.9, 0.9, 0.1), (0.9, 0.1, 0.9)]
    models = [translation(x, y, z) @ rotation_y(yaw) for x, y, z, yaw in
              [(-0.3, 0.0, 0.0, 0.3), (-0.1, 0.15, -0.2, 0.0), (0.1, -0.1, 0.1, -0.2), (0.3, 0.1, 0.0, 1.0),
               (0.0, -0.2, -0.3, 2.0)]]
    placed = [(replace(base, mlp=constant_colour_mlp(base.mlp, c)), m) for c, m in zip(colours, models, strict=True)]
    renderer = PicaRenderer(gl_ctx)
    rgb, _ = draw_once(target, renderer, placed)
    renderer.release()
    view_projection = view.projection.astype(np.float64) @ view.view_matrix.astype(np.float64)
    for colour, model in zip(colours, models, strict=True):
        x, y = project_point(view_projection, model[:3, 3], SIZE, SIZE)
        pixel = rgb[int(y), int(x)].astype(int)
        assert np.abs(pixel - np.rint(np.array(colour) * 255)).max() <= 1, (colour, (x, y), pixel)


@pytest.mark.parametrize("shading", ["deferred", "prepass"])
@pytest.mark.parametrize("stereo_eye", [0, 1])
def test_mlp_runs_once_per_covered_pixel(
    gl_ctx: moderngl.Context, target: HeadlessTarget, stereo_eye: int, shading: str
) -> None:
    offset = 0.03 * (2 * stereo_eye - 1)
    target.set_views([make_view((offset, 0.0, 0.55), (offset, 0.0, 0.0))])
    base = procedural_avatar(2, **SMALL)
    placed = [(base, translation(-0.05, 0.0, 0.1)), (base, translation(0.04, 0.02, -0.05)),
              (base, translation(0.0, -0.06, -0.15))]
    counting = PicaRenderer(gl_ctx, PicaOptions(count_invocations=True, shading=shading))
    _, depth = draw_once(target, counting, placed)
    covered = int((depth < 1.0).sum())
    assert covered > 0.2 * SIZE * SIZE
    assert counting.invocations == covered
    counting.reset_invocations()
    assert counting.invocations == 0
    counting.release()
    # Forward shading of back-to-front overlap shades hidden fragments too: deferred/pre-pass save those.
    no_prepass = PicaRenderer(gl_ctx, PicaOptions(count_invocations=True, shading="forward"))
    draw_once(target, no_prepass, placed[::-1])
    assert no_prepass.invocations > covered
    no_prepass.release()


def test_shading_modes_draw_the_same_image(gl_ctx: moderngl.Context, target: HeadlessTarget) -> None:
    target.set_views([make_view((0.1, 0.0, 0.5))])
    placed = [(procedural_avatar(4, **SMALL), np.eye(4)),
              (procedural_avatar(5, **SMALL), translation(0.05, 0.0, 0.08))]
    images, depths = [], []
    for shading in SHADING_MODES:
        renderer = PicaRenderer(gl_ctx, PicaOptions(shading=shading))
        rgb, depth = draw_once(target, renderer, placed)
        renderer.release()
        images.append(rgb)
        depths.append(depth)
    assert all(np.array_equal(images[0], image) for image in images[1:])
    assert all(np.array_equal(depths[0], depth) for depth in depths[1:])


def test_avatar_partly_off_screen_and_behind_the_eye(gl_ctx: moderngl.Context, target: HeadlessTarget) -> None:
    """Screen rectangles are clamped; a head the eye is inside of falls back to the whole screen."""
    target.set_views([make_view((0.0, 0.0, 0.4))])
    avatar = procedural_avatar(7, **SMALL)
    renderer = PicaRenderer(gl_ctx)
    edge, _ = draw_once(target, renderer, [(avatar, translation(0.1, 0.0, 0.0))], (0, 0, 0))
    behind, _ = draw_once(target, renderer, [(avatar, translation(0.1, 0.0, 0.33))], (0, 0, 0))
    forward = PicaRenderer(gl_ctx, PicaOptions(shading="forward"))
    edge_ref, _ = draw_once(target, forward, [(avatar, translation(0.1, 0.0, 0.0))], (0, 0, 0))
    behind_ref, _ = draw_once(target, forward, [(avatar, translation(0.1, 0.0, 0.33))], (0, 0, 0))
    renderer.release()
    forward.release()
    assert edge[:, -1].any() and np.array_equal(edge, edge_ref)
    assert behind.any() and np.array_equal(behind, behind_ref)


def test_handles_are_checked(gl_ctx: moderngl.Context, target: HeadlessTarget) -> None:
    avatar = procedural_avatar(0, **SMALL)
    pica, other = PicaRenderer(gl_ctx), FullTextureRenderer(gl_ctx)
    handle = pica.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info)
    foreign = other.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info)
    with pytest.raises(ValueError, match="not made by a PicaRenderer"):
        pica.update(foreign, avatar.frame)
    with pytest.raises(ValueError, match="features must be"):
        pica.update(handle, DecodedFrame(avatar.frame.geometry, avatar.frame.features[:-1]))
    with pytest.raises(ValueError, match="geometry must be"):
        pica.update(handle, DecodedFrame(avatar.frame.geometry[:5], avatar.frame.features))
    # Not updated yet: nothing is drawn, the background is.
    pica.render(target.begin_frame()[0], [AvatarDraw(handle, np.eye(4, dtype=np.float32))], background=(1, 0, 0))
    assert np.all(target.read_rgb() == (255, 0, 0))
    pica.release_avatar(handle)
    pica.release_avatar(handle)
    with pytest.raises(ValueError, match="released"):
        pica.update(handle, avatar.frame)
    with pytest.raises(ValueError, match="invocations"):
        _ = pica.invocations
    with pytest.raises(ValueError, match="feature_precision"):
        PicaOptions(feature_precision="f8")
    with pytest.raises(ValueError, match="shading"):
        PicaOptions(shading="raytraced")
    pica.release()
    pica.release()
    other.release()


def test_programs_are_cached_per_mlp_shape(gl_ctx: moderngl.Context) -> None:
    renderer = PicaRenderer(gl_ctx)
    a, b = procedural_avatar(0, **SMALL), procedural_avatar(1, **SMALL)
    c = procedural_avatar(2, channels=4, hidden=(4,), uv_frequencies=1)
    for avatar in (a, b, c):
        renderer.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info)
    assert len(renderer._programs) == 2
    renderer.release()


def test_stereo_eyes_each_match_the_reference(gl_ctx: moderngl.Context) -> None:
    """One renderer, two eye framebuffers (their own depth, shared G-buffer textures), rendered in turn."""
    views = [make_view((x, 0.02, 0.5), (x, 0.0, 0.0)) for x in (-0.0315, 0.0315)]
    target = HeadlessTarget(views, ctx=gl_ctx)
    placed = [(procedural_avatar(8, **SMALL), rotation_y(0.2)),
              (procedural_avatar(9, **SMALL), translation(0.06, 0.03, -0.1))]
    renderer = PicaRenderer(gl_ctx)
    draws = []
    for avatar, model in placed:
        handle = renderer.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info)
        renderer.update(handle, avatar.frame)
        draws.append(AvatarDraw(handle, model.astype(np.float32)))
    for _ in range(2):  # a second frame reuses the cached G-buffer framebuffers
        for eye in target.begin_frame():
            renderer.render(eye, draws, background=BACKGROUND)
        target.present()
    for index, view in enumerate(views):
        rgb, depth = target.read_rgb(index), target.read_depth(index)
        ref = reference_pica_image([as_reference(a, m) for a, m in placed], view, BACKGROUND)
        both = (depth < 1.0) & ref.fragments.mask
        for k, (avatar, _) in enumerate(placed):
            both &= ~uv_seam_band(ref.fragments, k, avatar.mesh.uv)
        both &= ~silhouette_band(ref.fragments.mesh == 0) & ~silhouette_band(ref.fragments.mesh == 1)
        diff = np.abs(rgb.astype(np.int16) - ref.rgb.astype(np.int16)).max(axis=-1)
        assert both.sum() > 2000 and diff[both].max() <= 2
    renderer.release()
    target.close()


def test_new_targets_after_closed_ones_get_their_own_depth(gl_ctx: moderngl.Context) -> None:
    """GL names of a closed target's framebuffer may be reused; the G-buffer must follow the new one."""
    avatar = procedural_avatar(10, **SMALL)
    renderer = PicaRenderer(gl_ctx)
    handle = renderer.add_avatar(avatar.mesh, avatar.mlp, avatar.feature_info)
    renderer.update(handle, avatar.frame)
    draw = AvatarDraw(handle, np.eye(4, dtype=np.float32))
    coverages = []
    for _ in range(12):  # more targets than the framebuffer cache holds
        target = HeadlessTarget([make_view((0.0, 0.0, 0.5))], ctx=gl_ctx)
        renderer.render(target.begin_frame()[0], [draw])
        target.present()
        coverages.append(int((target.read_depth() < 1.0).sum()))
        assert np.array_equal(target.read_rgb()[target.read_depth() == 1.0].max(axis=0), (0, 0, 0))
        target.close()
    assert coverages[0] > 1000 and len(set(coverages)) == 1
    renderer.release()


@pytest.mark.parametrize("renderer_kind", [*SHADING_MODES, "full-texture"])
def test_a_two_sided_mesh_draws_half_its_triangles_unculled_and_the_same_pixels(
        gl_ctx: moderngl.Context, target: HeadlessTarget, renderer_kind: str) -> None:
    """Packages carry every triangle twice, wound both ways (training.export.two_sided); the renderers draw the
    first copy with culling off. The image must be the one the culled draw of all of them gives (faces shuffled
    so the mirror is not recognised)."""
    target.set_views([make_view((0.1, 0.05, 0.5))])
    whole = procedural_avatar(6, **SMALL)
    points = np.asarray(whole.frame.geometry)[np.asarray(whole.mesh.vertex_index)][np.asarray(whole.mesh.faces)]
    front = points.mean(axis=1)[:, 2]
    faces = np.asarray(whole.mesh.faces)[front < np.quantile(front, 0.7)]  # the front cut away: its inside shows
    avatar = replace(whole, mesh=replace(whole.mesh, faces=np.ascontiguousarray(faces)))
    two_sided = replace(avatar, mesh=replace(avatar.mesh, faces=np.concatenate([faces, faces[:, ::-1]])))
    shuffled_faces = np.random.default_rng(0).permutation(np.asarray(two_sided.mesh.faces))
    shuffled = replace(avatar, mesh=replace(avatar.mesh, faces=shuffled_faces))
    images = []
    for placed in (two_sided, shuffled):
        renderer = (FullTextureRenderer(gl_ctx) if renderer_kind == "full-texture" else
                    PicaRenderer(gl_ctx, PicaOptions(shading=renderer_kind)))
        handle = renderer.add_avatar(placed.mesh, placed.mlp, placed.feature_info)
        assert handle.buffers.mirrored_half == (len(faces) if placed is two_sided else None)
        renderer.release_avatar(handle)
        images.append(draw_once(target, renderer, [(placed, np.eye(4))]))
        renderer.release()
    (rgb0, depth0), (rgb1, depth1) = images
    assert (depth0 < 1.0).sum() > 0.1 * SIZE * SIZE
    assert np.array_equal(rgb0, rgb1), np.abs(rgb0.astype(int) - rgb1).max()
    assert np.array_equal(depth0 < 1.0, depth1 < 1.0)
    # a triangle wound the other way interpolates depth in another order: the same to float rounding
    np.testing.assert_allclose(depth0, depth1, rtol=0, atol=1e-6)
    one_sided = PicaRenderer(gl_ctx)
    _, depth_one_sided = draw_once(target, one_sided, [(avatar, np.eye(4))])
    one_sided.release()
    assert (depth_one_sided < 1.0).sum() < (depth0 < 1.0).sum()  # back faces are in view: culling them shows
