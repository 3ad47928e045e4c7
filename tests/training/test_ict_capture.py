"""GL: a capture with the ICT head in the scanned skin (`head_source="ict"`) has the same layout as a MakeHuman
capture and loads into the trainer; the trimmed rig stays small enough for a shipped package."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import moderngl
import numpy as np
import pytest

from codecav.training.dataset import load_capture_data, region_vertices
from codecav.training.studio.capture import PRESETS, CaptureSummary, capture_identity
from codecav.training.studio.errors import StudioError
from codecav.training.studio.head_model import HeadModel
from codecav.training.studio.ict_head import (
    OUTER_SHELL_ONLY,
    SKIN_TONES,
    capture_model,
    connected_pieces,
    ict_head_model,
    ict_identity,
)
from codecav.training.studio.ict_rig import IctFaceModel, load_ict_face_model, to_head_model
from codecav.training.studio.scan_skin import load_skin_maps, skin_texels, tinted
from codecav.training.studio.skin_preview import arkit_weights, view_camera
from codecav.training.studio.skin_render import SkinRenderer

TINY = replace(PRESETS["quick"], cameras=2, random_frames=2, sentences=0, blink_frames=1, gaze_frames=1)
"""Four frames from two cameras, no speech (no espeak-ng needed)."""


@pytest.fixture(scope="module")
def ict_capture(tmp_path_factory: pytest.TempPathFactory, gl_context: moderngl.Context) -> CaptureSummary:
    return capture_identity(0, tmp_path_factory.mktemp("ict"), config=TINY, head_source="ict")


def test_ict_capture_loads_for_training(ict_capture: CaptureSummary) -> None:
    root = Path(ict_capture.out_dir)
    assert ict_capture.name == "lee" and ict_capture.frames == 4 and ict_capture.cameras == 2
    data = load_capture_data(root, cameras="all")
    rig = capture_model(load_ict_face_model())
    assert data.meshes.shape == (4, rig.num_vertices, 3)
    assert data.topology.rest_positions.shape == (rig.num_vertices, 3)
    assert data.expressions is not None and data.expressions.shape == (4, 52)
    assert data.config["head_source"] == "ict"
    identity = json.loads((root / "studio" / "identity.json").read_text())
    assert identity["head"] == "ict" and identity["index"] == 0 and identity["name"] == "lee"
    regions = region_vertices(data.topology)  # the trainer's latent segments find eyes and mouth
    assert len(regions["eyes"]) > 1000 and len(regions["mouth"]) > 1000
    seen = data.textures[0].reshape(-1, 3)
    assert (seen.max(axis=1) > 0).mean() > 0.3  # the cameras' unwrapped textures cover the face


def test_ict_images_show_skin(ict_capture: CaptureSummary) -> None:
    from codecav.training.multiface import read_capture

    cap = read_capture(ict_capture.out_dir)
    image = cap.image(cap.frames[0], cap.cameras[0].name).astype(int)
    head = np.abs(image - 26).sum(axis=2) > 12
    assert 0.2 < head.mean() < 0.7
    r, g, b = (image[head][:, k].mean() for k in range(3))
    assert r > g > b  # skin tones, not the grey of an untextured mesh


def test_makehuman_capture_json_unchanged(tmp_path: Path, gl_context: moderngl.Context,
                                          head_model: HeadModel) -> None:
    cfg = replace(TINY, random_frames=1, blink_frames=0, gaze_frames=0, cameras=1)
    summary = capture_identity(0, tmp_path / "mh", config=cfg, cache_dir=tmp_path / "cache")
    settings = json.loads((Path(summary.out_dir) / "studio" / "capture.json").read_text())
    assert "head_source" not in settings  # captures of the default head are as before the option existed
    with pytest.raises(StudioError, match="head source"):
        capture_identity(0, tmp_path / "bad", config=cfg, head_source="smplx")


def test_capture_model_trims_for_a_package() -> None:
    full = load_ict_face_model()
    rig = capture_model(full)
    assert "eyelashes" not in {rig.part_names[p] for p in np.unique(rig.vertex_part)}
    moving = np.abs(rig.channel_deltas).max(axis=(0, 2)) > 0
    assert moving.sum() < 16_000  # ~0.7 MB of decoder per 1,000 moving vertices; <= 15 MB per package
    face = full.part_names.index("face")
    assert (rig.vertex_part == face).sum() == (full.vertex_part == face).sum()  # skin at full resolution
    assert rig.mesh.vertex_index.max() == rig.num_vertices - 1 and rig.mesh.faces.max() == len(rig.mesh.uv) - 1
    assert len(np.unique(rig.mesh.vertex_index[rig.mesh.faces])) == rig.num_vertices  # no unused vertices


def _part_faces(rig: IctFaceModel, name: str) -> np.ndarray:
    return np.asarray(rig.mesh.faces)[rig.face_part == rig.part_names.index(name)]


def test_the_capture_eyeballs_keep_only_their_outer_shell_and_their_uv_islands_no_longer_overlap() -> None:
    full = load_ict_face_model()
    rig = capture_model(full)
    for name in OUTER_SHELL_ONLY:
        for model, pieces in ((full, 2), (rig, 1)):
            faces = _part_faces(model, name)
            assert len(np.unique(connected_pieces(np.asarray(model.mesh.vertex_index)[faces]))) == pieces
        faces = _part_faces(rig, name)
        uv = np.asarray(rig.mesh.uv)[faces]
        ab, ac = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
        area = 0.5 * np.abs(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]).sum()
        box = np.prod(uv.reshape(-1, 2).max(axis=0) - uv.reshape(-1, 2).min(axis=0))
        assert area < box  # one layer (the two shells covered 1.6x the island's box)


def test_the_inner_eyeball_shells_never_show(gl_context: moderngl.Context) -> None:
    """Dropping them changes no pixel, from the front, the side and below, looking away and half blinking."""
    full = load_ict_face_model()
    maps = load_skin_maps()
    images = []
    for outer_only in ((), OUTER_SHELL_ONLY):
        model = to_head_model(capture_model(full, outer_only=outer_only))
        renderer = SkinRenderer(gl_context, model, maps, 84, 128, 64)
        shots = []
        for yaw, pitch, named in ((0, 0, {"eyeBlinkLeft": 0.5}), (40, 0, {"eyeLookOutLeft": 0.8}),
                                  (-30, -20, {"eyeLookUpRight": 0.7})):
            renderer.set_positions(model.posed(arkit_weights(named)))
            shots.append(renderer.render(view_camera(yaw, pitch, 84, 128), unwrap=False).image)
        renderer.release()
        images.append(np.stack(shots))
    assert np.array_equal(images[0], images[1])


def test_ict_identities() -> None:
    lee, other = ict_identity(0), ict_identity(1)
    assert lee.name == "lee" and not any(lee.identity_weights)
    assert other == ict_identity(1) and any(other.identity_weights) and other != ict_identity(1, seed=1)
    a, b = ict_head_model(lee), ict_head_model(other)
    assert a.positions.shape == b.positions.shape
    assert 1e-3 < np.abs(a.positions - b.positions).max() < 0.05  # another face shape, same topology
    assert lee.skin_tone is None and other.skin_tone in SKIN_TONES and ict_identity(2).skin_tone != other.skin_tone
    assert "recoloured" in other.skin and "recoloured" not in lee.skin


def test_a_recoloured_skin_has_the_tone_as_its_median_and_keeps_its_detail_and_the_eyes() -> None:
    maps = load_skin_maps()
    size = maps.albedo.shape[0]
    skin = skin_texels(load_ict_face_model(), size)
    assert 0.5 < skin.mean() < 0.95  # the face and scalp islands, not the eyes, teeth or mouth
    tone = SKIN_TONES[0]
    out = tinted(maps, skin, tone)
    median = np.median(out.albedo[skin].astype(np.float64) / 255, axis=0)
    assert np.abs(median - np.asarray(tone)).max() < 0.02
    assert np.array_equal(out.albedo[~skin], maps.albedo[~skin])  # eyes, teeth, mouth interior untouched
    assert np.array_equal(out.specular, maps.specular) and np.array_equal(out.height, maps.height)
    # Detail survives: the green channel's local contrast (texel minus its 9x9 mean) stays correlated.
    def detail(albedo: np.ndarray) -> np.ndarray:
        g = albedo[..., 1].astype(np.float64)
        k = np.ones(9) / 9
        blur = np.apply_along_axis(np.convolve, 0, np.apply_along_axis(np.convolve, 1, g, k, "same"), k, "same")
        return (g - blur)[skin]
    assert np.corrcoef(detail(maps.albedo), detail(out.albedo))[0, 1] > 0.95
