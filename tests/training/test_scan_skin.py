"""Lee Perry-Smith's scan fitted to the ICT head and its skin carried into the ICT atlas."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.training.studio.ict_rig import IctFaceModel, load_ict_face_model
from codecav.training.studio.scan_skin import (
    SkinMaps,
    eye_island,
    fit_scan,
    load_scan,
    load_skin_maps,
    similarity,
    transfer_skin,
)

pytest.importorskip("cv2", reason="the skin transfer's k-d tree needs OpenCV")


@pytest.fixture(scope="module")
def rig() -> IctFaceModel:
    return load_ict_face_model()


@pytest.fixture(scope="module")
def small_maps(rig: IctFaceModel) -> SkinMaps:
    return transfer_skin(rig, size=256)


def test_similarity_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(10, 3))
    angle = 0.3
    rot = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    dst = 1.7 * src @ rot.T + [0.1, -0.2, 0.3]
    scale, rotation, translation = similarity(src, dst)
    assert scale == pytest.approx(1.7)
    np.testing.assert_allclose(rotation, rot, atol=1e-9)
    np.testing.assert_allclose(translation, [0.1, -0.2, 0.3], atol=1e-9)


def test_scan_fits_the_ict_head(rig: IctFaceModel) -> None:
    mesh, _ = load_scan()
    fit = fit_scan(rig, mesh)
    assert fit.landmark_rms_m < 0.008  # picked landmarks agree within 8 mm
    assert fit.surface_rms_m < 0.003  # the face surfaces within 3 mm (trimmed)
    assert 0.8 < fit.scale < 1.2 and np.linalg.det(fit.rotation) == pytest.approx(1.0)


def _face_texels(rig: IctFaceModel, maps: SkinMaps) -> np.ndarray:
    return maps.from_scan & (np.arange(maps.albedo.shape[1]) < 0.75 * maps.albedo.shape[1])[None, :]


def test_transferred_skin_colour_matches_the_scan(rig: IctFaceModel, small_maps: SkinMaps) -> None:
    _, scan = load_scan()
    colour = scan["colour"].reshape(-1, 3).astype(float)
    # The scan's own skin: its map minus the flat fill around the islands (the corner colour).
    fill = colour[0]
    scan_skin = colour[np.abs(colour - fill).sum(axis=1) > 12].mean(axis=0)
    face = _face_texels(rig, small_maps)
    assert face.mean() > 0.4
    ours = small_maps.albedo[face].astype(float).mean(axis=0)
    assert np.abs(ours - scan_skin).max() < 20, (ours, scan_skin)
    assert ours[0] > ours[1] > ours[2]  # skin: red > green > blue


def test_painted_parts_and_relief(rig: IctFaceModel, small_maps: SkinMaps) -> None:
    size = small_maps.albedo.shape[0]
    # The teeth rectangle of the atlas is light, the gums red, and no scan texel lands there.
    teeth = small_maps.albedo[int(0.25 * size): int(0.3 * size), int(0.9 * size): int(0.97 * size)]
    assert teeth.reshape(-1, 3).max(axis=0).min() > 150
    assert not small_maps.from_scan[int(0.2 * size): int(0.375 * size), int(0.75 * size):].any()
    face = _face_texels(rig, small_maps)
    relief = small_maps.height[face].astype(float)
    assert abs(relief.mean() - 128) < 4 and relief.std() > 1.0  # detail, centred on no displacement


def test_committed_maps_agree_with_a_fresh_transfer(small_maps: SkinMaps) -> None:
    committed = load_skin_maps()
    assert committed.albedo.shape == (1024, 1024, 3) and committed.height.shape == (1024, 1024)
    small = committed.albedo[2::4, 2::4].astype(float)  # nearest texels at 256
    face = small_maps.from_scan
    assert np.abs(small[face] - small_maps.albedo[face]).mean() < 12


def _eye_island_samples(rig: IctFaceModel, maps: SkinMaps, name: str, radius: float) -> np.ndarray:
    """sRGB of the texels at `radius` (fraction of the island's half-width) around an eyeball's UV island centre."""
    centre, half = eye_island(rig, name)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    uv = centre + radius * half * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    size = maps.albedo.shape[0]
    rows, cols = (uv[:, 1] * size).astype(int), (uv[:, 0] * size).astype(int)
    return maps.albedo[rows, cols].astype(float)


@pytest.mark.parametrize("name", ["eyeball_left", "eyeball_right"])
def test_eyes_show_a_pupil_an_iris_and_white_around_it(rig: IctFaceModel, name: str) -> None:
    """The committed eyes: the open eye shows the island out to about half its half-width, so the iris (a fifth of
    it) is ringed by white sclera, as a real eye's 11.7 mm iris is in a ~30 mm wide opening."""
    maps = load_skin_maps()
    pupil = _eye_island_samples(rig, maps, name, 0.03)
    iris = _eye_island_samples(rig, maps, name, 0.14)
    sclera = _eye_island_samples(rig, maps, name, 0.3)
    assert pupil.mean() < 40
    assert 40 < iris.mean() < 140 and (iris[:, 0] > iris[:, 2]).all()  # hazel: warm, mid-dark
    assert sclera.min() > 180  # white all around
