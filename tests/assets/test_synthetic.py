"""Synthetic random-weight avatars: labelled untrained, head-shaped mesh, a decoder that runs on
onnxruntime, and smooth, coloured, seed-dependent shading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage, run_pixel_mlp, texel_uv
from codecav.assets.synthetic.avatar import SYNTHETIC_KIND, build_synthetic_avatar
from codecav.assets.writer import write_avatar


def decode(package: AvatarPackage, latent: np.ndarray, view_dir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(geometry [B, V, 3], features [B, C, H, W]) from onnxruntime."""
    session = ort.InferenceSession(package.decoder_onnx, providers=["CPUExecutionProvider"])
    geometry, features = session.run(["geometry", "features"], {"latent": latent.astype(np.float32),
                                                                "view_dir": view_dir.astype(np.float32)})
    return np.asarray(geometry), np.asarray(features)


def texture(
    package: AvatarPackage, features_chw: np.ndarray, view: tuple[float, float, float] = (0, 0, 1)
) -> np.ndarray:
    """RGB [H, W, 3] of the pixel MLP at every texel centre."""
    info = package.manifest.feature_map
    uv = texel_uv(info.height, info.width)
    views = np.tile(np.asarray(view, np.float64), (len(uv), 1))
    rgb = run_pixel_mlp(package.pixel_mlp, features_chw.reshape(info.channels, -1).T, views, uv)
    return rgb.reshape(info.height, info.width, 3)


def codes(package: AvatarPackage, count: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((count, package.manifest.latent.dim)) * 0.5).astype(np.float32)


def test_labelled_untrained(synthetic: AvatarPackage) -> None:
    m = synthetic.manifest
    assert m.provenance["kind"] == SYNTHETIC_KIND and m.provenance["trained"] is False
    assert "untrained" in m.name and m.avatar_id == "synthetic-0"
    assert [s.name for s in m.latent.segments] == ["face", "eyes", "mouth"]


def test_head_mesh(synthetic: AvatarPackage) -> None:
    mesh, info = synthetic.mesh, synthetic.manifest.mesh
    assert info.num_render_vertices > info.num_vertices  # split at the UV seam
    assert 500 <= info.num_triangles <= 5000
    rest, _ = decode(synthetic, np.zeros((1, synthetic.manifest.latent.dim)), np.array([[0.0, 0.0, 1.0]]))
    p = rest[0][mesh.vertex_index][mesh.faces]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.all(np.einsum("ij,ij->i", normal, p.mean(axis=1)) > 0)  # CCW seen from outside
    extent = rest[0].max(axis=0) - rest[0].min(axis=0)
    assert np.allclose(extent, [0.18, 0.24, 0.21], atol=0.01)
    assert rest[0][:, 2].argmax() == np.linalg.norm(rest[0] - [0, -0.01, 0.11], axis=1).argmin()  # nose at +z
    # Render vertices sharing a geometry vertex differ only at the seam (u = 0 | 1) or at the poles.
    shared = mesh.vertex_index[:, None] == mesh.vertex_index[None, :]
    i, j = np.nonzero(np.triu(shared, 1))
    seam = np.isin(mesh.uv[i, 0], [0.0, 1.0]) & np.isin(mesh.uv[j, 0], [0.0, 1.0])
    pole = np.isin(mesh.uv[i, 1], [0.0, 1.0])
    assert len(i) > 0 and np.all(seam | pole)


def test_decoder_runs_on_onnxruntime(synthetic: AvatarPackage) -> None:
    m = synthetic.manifest
    z = codes(synthetic, 2)
    views = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8]])
    geometry, features = decode(synthetic, z, views)  # batch 2 through the symbolic batch dimension
    assert geometry.shape == (2, m.mesh.num_vertices, 3) and geometry.dtype == np.float32
    assert features.shape == (2, m.feature_map.channels, m.feature_map.height, m.feature_map.width)
    assert np.all(np.isfinite(geometry)) and np.all(np.isfinite(features))
    rest, base = decode(synthetic, np.zeros((1, m.latent.dim)), views[:1])
    offsets = np.linalg.norm(geometry[0] - rest[0], axis=1)
    assert 0.0003 < offsets.mean() and offsets.max() < 0.01  # latent moves vertices by a few mm
    view_only, _ = decode(synthetic, np.zeros((1, m.latent.dim)), views[1:])
    assert 0 < np.abs(view_only - rest).max() <= 0.002  # view-dependent offsets, about 1 mm
    assert np.abs(features[0] - base[0]).max() > 0.01  # latent changes the features


def test_shading_is_smooth_coloured_and_bounded(synthetic: AvatarPackage) -> None:
    _, features = decode(synthetic, codes(synthetic, 3), np.tile([0.0, 0.0, 1.0], (3, 1)))
    for f in features:
        rgb = texture(synthetic, f)
        assert np.mean((rgb >= 0.15) & (rgb <= 0.9)) > 0.99
        assert np.all(rgb.reshape(-1, 3).std(axis=0) > 0.04)  # every channel varies over the head
        assert np.std(rgb.mean(axis=2) - rgb[..., 0]) > 0.02  # coloured, not grey
        step = np.abs(np.diff(rgb, axis=1)).mean() + np.abs(np.diff(rgb, axis=0)).mean()
        assert step < 0.25 * rgb.std()  # smooth: neighbouring texels are close, unlike noise


def test_seeds_differ(synthetic: AvatarPackage) -> None:
    other = build_synthetic_avatar(1)
    assert other.decoder_onnx != synthetic.decoder_onnx
    zero = np.zeros((1, synthetic.manifest.latent.dim))
    front = np.array([[0.0, 0.0, 1.0]])
    a = texture(synthetic, decode(synthetic, zero, front)[1][0])
    b = texture(other, decode(other, zero, front)[1][0])
    assert np.abs(a - b).mean() > 0.05
    assert np.abs(a.reshape(-1, 3).mean(axis=0) - b.reshape(-1, 3).mean(axis=0)).max() > 0.03  # other colours


def test_mlp_reference_matches_the_layers_written_out(synthetic: AvatarPackage) -> None:
    """run_pixel_mlp (building, verifying and the renderers' reference images all use it) computes the
    package MLP: input [features, view, sin/cos(2^k pi uv)], relu hidden layers, linear, sigmoid."""
    rng = np.random.default_rng(3)
    mlp = synthetic.pixel_mlp
    c = synthetic.manifest.feature_map.channels
    feats, uv = rng.standard_normal((50, c)), rng.random((50, 2))
    views = rng.standard_normal((50, 3))
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    assert mlp.activation == "relu" and mlp.uv_frequencies == 2 and len(mlp.weights) == 3
    x = np.concatenate([feats, views, np.sin(np.pi * uv), np.cos(np.pi * uv), np.sin(2 * np.pi * uv),
                        np.cos(2 * np.pi * uv)], axis=1)
    w0, w1, w2 = (np.asarray(w, np.float64) for w in mlp.weights)
    b0, b1, b2 = (np.asarray(b, np.float64) for b in mlp.biases)
    hidden = np.maximum(np.maximum(x @ w0.T + b0, 0.0) @ w1.T + b1, 0.0)
    expected = 1.0 / (1.0 + np.exp(-(hidden @ w2.T + b2)))
    assert np.allclose(run_pixel_mlp(mlp, feats, views, uv), expected, atol=1e-12)


def test_options_load(tmp_path: Path) -> None:
    package = build_synthetic_avatar(5, latent_segments=(("face", 8),), feature_channels=16, feature_size=32,
                                     hidden=(8,), activation="sine", uv_frequencies=0, mesh_resolution=(8, 12))
    loaded = load_avatar(write_avatar(package, tmp_path / "small.cavatar"))
    m = loaded.manifest
    assert (m.feature_map.channels, m.feature_map.height, m.pixel_mlp.activation) == (16, 32, "sine")
    assert loaded.pixel_mlp.input_size == 16 + 3
    _, features = decode(loaded, np.zeros((1, 8)), np.array([[0.0, 0.0, 1.0]]))
    assert features.shape == (1, 16, 32, 32)


@pytest.mark.parametrize("kwargs", [{"feature_channels": 6}, {"feature_size": 48}, {"activation": "tanh"},
                                    {"seed": -1}, {"latent_segments": ()}, {"mesh_resolution": (2, 2)}])
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_synthetic_avatar(**kwargs)  # type: ignore[arg-type]
