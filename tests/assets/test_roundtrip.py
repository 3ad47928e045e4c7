"""write_avatar -> load_avatar round trips for directories and .cavatar zips; deterministic bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from codecav.assets.errors import AvatarWriteError, TensorShapeError
from codecav.assets.loader import load_avatar, open_avatar
from codecav.assets.package import AvatarPackage, MeshTopology
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.writer import write_avatar


def assert_same(a: AvatarPackage, b: AvatarPackage) -> None:
    assert a.manifest == b.manifest
    for name in ("faces", "uv", "vertex_index"):
        x, y = getattr(a.mesh, name), getattr(b.mesh, name)
        assert x.dtype == y.dtype and np.array_equal(x, y)
    for x, y in zip(a.pixel_mlp.weights + a.pixel_mlp.biases, b.pixel_mlp.weights + b.pixel_mlp.biases, strict=True):
        assert x.dtype == np.float32 and np.array_equal(x, y)
    assert (a.pixel_mlp.activation, a.pixel_mlp.uv_frequencies) == (b.pixel_mlp.activation, b.pixel_mlp.uv_frequencies)
    assert a.decoder_onnx == b.decoder_onnx
    assert a.encoders_onnx == b.encoders_onnx


@pytest.mark.parametrize("name", ["ada", "ada.cavatar"])
def test_round_trip(tmp_path: Path, synthetic: AvatarPackage, name: str) -> None:
    path = write_avatar(synthetic, tmp_path / name)
    loaded = load_avatar(path)
    assert_same(loaded, synthetic)
    assert loaded.source == str(path)
    assert path.is_dir() == (name == "ada")


def test_zip_members_sorted_with_fixed_timestamps(package_zip: Path) -> None:
    with zipfile.ZipFile(package_zip) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) == ["avatar.json", "decoder.onnx", "mesh.npz", "pixel_mlp.npz"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_deterministic_bytes(tmp_path: Path, synthetic: AvatarPackage) -> None:
    first = write_avatar(synthetic, tmp_path / "a.cavatar").read_bytes()
    rebuilt = build_synthetic_avatar(0)
    second = write_avatar(rebuilt, tmp_path / "sub" / "b.cavatar").read_bytes()
    assert first == second
    again = write_avatar(load_avatar(tmp_path / "a.cavatar"), tmp_path / "c.cavatar").read_bytes()
    assert again == first


def test_directory_and_zip_hold_the_same_files(package_dir: Path, package_zip: Path) -> None:
    with zipfile.ZipFile(package_zip) as zf:
        zipped = {n: zf.read(n) for n in zf.namelist()}
    files = {p.name: p.read_bytes() for p in package_dir.iterdir()}
    assert zipped == files


def test_overwrite_existing_package(tmp_path: Path, synthetic: AvatarPackage) -> None:
    path = write_avatar(build_synthetic_avatar(1), tmp_path / "ada")
    write_avatar(synthetic, path)
    assert load_avatar(path).manifest.avatar_id == "synthetic-0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada"]  # no temporary left behind


def test_refuses_to_overwrite_other_directory(tmp_path: Path, synthetic: AvatarPackage) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(AvatarWriteError, match="not an avatar package"):
        write_avatar(synthetic, tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").exists()


def test_writer_checks_before_writing(tmp_path: Path, synthetic: AvatarPackage) -> None:
    mesh = synthetic.mesh
    broken = MeshTopology(faces=mesh.faces, uv=mesh.uv.astype(np.float64), vertex_index=mesh.vertex_index)
    package = AvatarPackage(synthetic.manifest, broken, synthetic.pixel_mlp, synthetic.decoder_onnx)
    with pytest.raises(TensorShapeError, match="array uv is float64"):
        write_avatar(package, tmp_path / "bad.cavatar")
    assert not (tmp_path / "bad.cavatar").exists()


def test_encoders_round_trip(tmp_path: Path, synthetic: AvatarPackage) -> None:
    from dataclasses import replace

    package = replace(synthetic, encoders_onnx={"encoders/audio.onnx": synthetic.decoder_onnx})
    loaded = open_avatar(write_avatar(package, tmp_path / "enc.cavatar"))
    assert loaded.package.encoders_onnx == {"encoders/audio.onnx": synthetic.decoder_onnx}
    assert "encoders/audio.onnx" in loaded.package.manifest.members
    assert loaded.is_zip and loaded.member_sizes["encoders/audio.onnx"] == len(synthetic.decoder_onnx)
    loaded_dir = load_avatar(write_avatar(package, tmp_path / "enc"))
    assert loaded_dir.encoders_onnx == package.encoders_onnx
