"""The whole decoder path on codecav.assets.synthetic.avatar avatars: ONNX decode -> PicaRenderer vs the reference."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.camera import rotation_y, translation
from codecav.decoders.base import AvatarDraw
from codecav.decoders.full_texture import FullTextureOptions, FullTextureRenderer
from codecav.decoders.neural import OnnxNeuralDecoder
from codecav.decoders.pica_gl import PicaRenderer
from codecav.decoders.pixel_mlp_reference import (
    ReferenceAvatar,
    reference_full_texture_image,
    reference_pica_image,
)
from codecav.xr.headless import HeadlessTarget
from tests.decoders.conftest import make_view, silhouette_band, uv_seam_band

pytestmark = pytest.mark.gl


def test_decoded_synthetic_avatars_match_the_reference(gl_ctx: moderngl.Context) -> None:
    view = make_view((0.15, 0.05, 0.75))
    target = HeadlessTarget([view], ctx=gl_ctx)
    models = [translation(-0.09, 0.0, 0.0) @ rotation_y(0.3), translation(0.1, 0.0, -0.12)]
    references, draws = [], []
    pica, full = PicaRenderer(gl_ctx), FullTextureRenderer(gl_ctx, FullTextureOptions(texture_size=128))
    for seed, model in enumerate(models):
        package = build_synthetic_avatar(seed=seed)
        rng = np.random.default_rng(seed)
        code = (rng.standard_normal(package.manifest.latent.dim) * 0.5).astype(np.float32)
        frame = OnnxNeuralDecoder(package.decoder_onnx).decode(code, np.array([0.0, 0.0, 1.0], np.float32))
        info = package.manifest.feature_map
        assert frame.features.shape == (info.height, info.width, info.channels)
        references.append(ReferenceAvatar(package.mesh, package.pixel_mlp, frame, model))
        for renderer in (pica, full):
            handle = renderer.add_avatar(package.mesh, package.pixel_mlp, info)
            renderer.update(handle, frame)
            draws.append((renderer, AvatarDraw(handle, model.astype(np.float32))))
    for renderer, reference in ((pica, reference_pica_image(references, view)),
                                (full, reference_full_texture_image(references, view, 128))):
        renderer.render(target.begin_frame()[0], [d for r, d in draws if r is renderer])
        target.present()
        rgb, depth = target.read_rgb(), target.read_depth()
        frags = reference.fragments
        compare = (depth < 1.0) & frags.mask
        for index, avatar in enumerate(references):
            compare &= ~silhouette_band(frags.mesh == index) & ~uv_seam_band(frags, index, avatar.mesh.uv)
        assert compare.sum() > 0.1 * rgb.shape[0] * rgb.shape[1]
        diff = np.abs(rgb.astype(np.int16) - reference.rgb.astype(np.int16)).max(axis=-1)
        assert diff[compare].max() <= 2, f"{type(renderer).__name__}: max diff {diff[compare].max()}/255"
        renderer.release()
    target.close()
