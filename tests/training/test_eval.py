"""Eval metrics (PSNR, SSIM) against hand-computed values, and the held-out sets eval picks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codecav.training.metrics import gaussian_filter, psnr, ssim, ssim_map


def test_psnr_of_a_known_error() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110  # one error of 10 in 192 values: MSE 100/192
    assert abs(psnr(a, b) - 10 * np.log10(255**2 / (100 / 192))) < 1e-9
    mask = np.zeros((8, 8), bool)
    mask[0, :2] = True  # 6 values: MSE 100/6
    assert abs(psnr(a, b, mask) - 10 * np.log10(255**2 / (100 / 6))) < 1e-9
    assert psnr(a, a) == float("inf")


def test_gaussian_filter_keeps_constants_and_sums_to_one() -> None:
    flat = np.full((20, 30, 3), 7.0)
    assert np.allclose(gaussian_filter(flat), 7.0)
    impulse = np.zeros((21, 21, 1))
    impulse[10, 10] = 1.0
    out = gaussian_filter(impulse)
    assert abs(out.sum() - 1.0) < 1e-12 and out[10, 10] == out.max()
    assert abs(out[10, 11] / out[10, 10] - np.exp(-1 / (2 * 1.5**2))) < 1e-12  # sigma 1.5


def test_ssim_properties() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert abs(ssim(image, image) - 1.0) < 1e-12
    noisy = np.clip(image + rng.normal(0, 20, image.shape), 0, 255)
    worse = np.clip(image + rng.normal(0, 60, image.shape), 0, 255)
    assert 0 < ssim(image, worse) < ssim(image, noisy) < 1
    # contrast-inverted structure scores negative
    assert ssim(image, 255 - image.astype(float)) < 0
    # the map at a pixel equals the formula on its Gaussian-weighted statistics (flat images: luminance term)
    a, b = np.full((16, 16, 1), 50.0), np.full((16, 16, 1), 100.0)
    c1 = (0.01 * 255) ** 2
    assert np.allclose(ssim_map(a, b), (2 * 50 * 100 + c1) / (50**2 + 100**2 + c1))


def test_sample_paths_exclude_baselines(tmp_path: Path) -> None:
    from codecav.assets import samples

    paths = samples.sample_avatar_paths()
    assert all(not p.name.endswith("-dam.cavatar") for p in paths)
    assert all(p.parent == samples.SAMPLES_DIR for p in samples.sample_avatar_paths(include_baselines=True))
    for path in paths:
        baseline = samples.baseline_of(path)
        assert baseline is None or baseline.is_file()


def test_shipped_samples_verify_and_carry_provenance() -> None:
    from codecav.assets.loader import load_avatar
    from codecav.assets.samples import baseline_of, sample_avatar_paths
    from codecav.assets.verify import verify_avatar

    paths = sample_avatar_paths()
    assert len(paths) >= 2
    assert any(baseline_of(p) is not None for p in paths)  # a DAM baseline to compare with
    from codecav.training.studio.ict_head import capture_model
    from codecav.training.studio.ict_rig import load_ict_face_model

    # Every sample was captured with today's studio head, so `avatar eval --quick` (a fresh capture) fits it.
    studio_vertices = capture_model(load_ict_face_model()).num_vertices
    identities = set()
    for path in sample_avatar_paths(include_baselines=True):
        assert path.stat().st_size <= 15 * 10**6
        report = verify_avatar(path)
        prov = load_avatar(path).manifest.provenance
        assert prov["data"]["capture_config"]["head_source"] == "ict"  # the scanned-skin head, not MakeHuman's
        assert report.provenance_kind == "trained" and report.geometry_shape[::2] == (1, 3)
        assert report.geometry_shape[1] == studio_vertices, path.name
        assert prov["model"] in ("pica", "dam") and prov["command"].startswith("codecav avatar build")
        assert isinstance(prov["seed"], int) and prov["wall_time_s"] > 0 and prov["metrics"]["train_uv_psnr"] > 25
        identities.add(prov["data"]["identity"]["index"])
    assert identities == {0, 1}
