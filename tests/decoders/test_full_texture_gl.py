"""The DAM full-texture baseline on llvmpipe against its own NumPy reference."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from codecav.camera import rotation_y, translation
from codecav.decoders.full_texture import FullTextureOptions, FullTextureRenderer
from codecav.decoders.pixel_mlp_reference import reference_full_texture_image
from codecav.decoders.procedural import procedural_avatar
from codecav.xr.headless import HeadlessTarget
from tests.decoders.conftest import as_reference, draw_once, make_view, silhouette_band, uv_seam_band

pytestmark = pytest.mark.gl

BACKGROUND = (0.1, 0.1, 0.1)


@pytest.mark.parametrize(("eye", "activation", "texture_size"),
                         [((0.1, 0.05, 0.5), "relu", 96), ((-0.3, 0.2, 0.35), "sine", 128)])
def test_full_texture_matches_reference(
    gl_ctx: moderngl.Context, eye: tuple[float, float, float], activation: str, texture_size: int
) -> None:
    view = make_view(eye)
    target = HeadlessTarget([view], ctx=gl_ctx)
    avatar = procedural_avatar(6, activation=activation, channels=4, hidden=(8, 8), uv_frequencies=2)
    model = translation(0.0, 0.01, 0.0) @ rotation_y(-0.3)
    renderer = FullTextureRenderer(gl_ctx, FullTextureOptions(texture_size=texture_size, feature_precision="f32"))
    rgb, depth = draw_once(target, renderer, [(avatar, model)], BACKGROUND)
    renderer.release()
    target.close()
    ref = reference_full_texture_image([as_reference(avatar, model)], view, texture_size, BACKGROUND)
    gl_mask, ref_mask = depth < 1.0, ref.fragments.mask
    assert not ((gl_mask ^ ref_mask) & ~silhouette_band(ref_mask)).any()
    seam = uv_seam_band(ref.fragments, 0, avatar.mesh.uv)
    assert seam.sum() <= 0.02 * ref_mask.sum()
    both = gl_mask & ref_mask & ~seam
    diff = np.abs(rgb.astype(np.int16) - ref.rgb.astype(np.int16)).max(axis=-1)
    assert diff[both].max() <= 2, f"max |GL - reference| = {diff[both].max()}/255"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="texture_size"):
        FullTextureOptions(texture_size=0)
    with pytest.raises(ValueError, match="feature_precision"):
        FullTextureOptions(feature_precision="u8")
