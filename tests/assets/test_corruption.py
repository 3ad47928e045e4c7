"""Each kind of damaged package raises its own AvatarFormatError subclass with a one-line message that names
the package, the member and a fix."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from codecav.assets import errors
from codecav.assets.loader import load_avatar
from codecav.assets.writer import zip_bytes
from tests.assets.helpers import (
    assert_one_line,
    edit_manifest,
    load_decoder,
    read_npz,
    reseal,
    rewrite_npz,
    save_decoder,
)


def files_of(package_dir: Path) -> dict[str, bytes]:
    """Every file of a directory package by member path."""
    return {p.relative_to(package_dir).as_posix(): p.read_bytes() for p in package_dir.rglob("*") if p.is_file()}


def test_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.cavatar"
    with pytest.raises(errors.AvatarNotFoundError) as info:
        load_avatar(path)
    assert "does not exist" in assert_one_line(info.value, path, None)


def test_not_a_package(tmp_path: Path) -> None:
    text = tmp_path / "notes.cavatar"
    text.write_text("hello")
    with pytest.raises(errors.NotAnAvatarPackageError) as info:
        load_avatar(text)
    assert_one_line(info.value, text, None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(errors.NotAnAvatarPackageError):
        load_avatar(empty)


def test_directory_without_manifest(package_dir: Path) -> None:
    (package_dir / "avatar.json").unlink()
    with pytest.raises(errors.NotAnAvatarPackageError) as info:
        load_avatar(package_dir)
    assert "avatar.json" in assert_one_line(info.value, package_dir, None)


def test_missing_member(package_dir: Path) -> None:
    (package_dir / "mesh.npz").unlink()
    with pytest.raises(errors.MissingMemberError) as info:
        load_avatar(package_dir)
    assert "declared in avatar.json but absent" in assert_one_line(info.value, package_dir, "mesh.npz")


def test_undeclared_member(package_dir: Path) -> None:
    (package_dir / "notes.txt").write_text("x")
    with pytest.raises(errors.UndeclaredMemberError) as info:
        load_avatar(package_dir)
    assert_one_line(info.value, package_dir, "notes.txt")


def test_hash_mismatch(package_dir: Path) -> None:
    data = bytearray((package_dir / "decoder.onnx").read_bytes())
    data[-1] ^= 0xFF
    (package_dir / "decoder.onnx").write_bytes(bytes(data))
    with pytest.raises(errors.HashMismatchError) as info:
        load_avatar(package_dir)
    message = assert_one_line(info.value, package_dir, "decoder.onnx")
    assert "sha256 mismatch (manifest " in message and "re-export the avatar or restore the file" in message


@pytest.mark.parametrize("version", [0, 3, 99])
def test_unsupported_version(package_dir: Path, version: int) -> None:
    edit_manifest(package_dir, format_version=version)
    with pytest.raises(errors.UnsupportedVersionError) as info:
        load_avatar(package_dir)
    message = assert_one_line(info.value, package_dir, "avatar.json")
    assert f"format_version {version}" in message
    assert ("upgrade codecav" in message) == (version > 2)


def test_malformed_json(package_dir: Path) -> None:
    (package_dir / "avatar.json").write_text('{"format_version": 1,')
    with pytest.raises(errors.ManifestError) as info:
        load_avatar(package_dir)
    assert "not valid UTF-8 JSON" in assert_one_line(info.value, package_dir, "avatar.json")


def test_schema_error_names_field(package_dir: Path) -> None:
    manifest = json.loads((package_dir / "avatar.json").read_text())
    manifest["feature_map"]["channels"] = 6
    (package_dir / "avatar.json").write_text(json.dumps(manifest))
    with pytest.raises(errors.ManifestError) as info:
        load_avatar(package_dir)
    assert "field $.feature_map.channels is 6, not a multiple of 4" in assert_one_line(info.value, package_dir,
                                                                                       "avatar.json")


def test_wrong_npz_shape(package_dir: Path) -> None:
    uv = read_npz(package_dir / "mesh.npz")["uv"]
    rewrite_npz(package_dir, "mesh.npz", uv=np.zeros((uv.shape[0], 3), np.float32))
    with pytest.raises(errors.TensorShapeError) as info:
        load_avatar(package_dir)
    assert f"array uv is float32 [{uv.shape[0]}, 3], expected float32 [{uv.shape[0]}, 2]" in assert_one_line(
        info.value, package_dir, "mesh.npz")


def test_wrong_mlp_width(package_dir: Path) -> None:
    w1 = read_npz(package_dir / "pixel_mlp.npz")["w1"]
    rewrite_npz(package_dir, "pixel_mlp.npz", w1=np.zeros((w1.shape[0], w1.shape[1] + 1), np.float32))
    with pytest.raises(errors.TensorShapeError) as info:
        load_avatar(package_dir)
    assert "array w1" in assert_one_line(info.value, package_dir, "pixel_mlp.npz")


def test_face_index_out_of_range(package_dir: Path) -> None:
    faces = read_npz(package_dir / "mesh.npz")["faces"].copy()
    faces[0, 0] = 10**6
    rewrite_npz(package_dir, "mesh.npz", faces=faces)
    with pytest.raises(errors.TensorShapeError) as info:
        load_avatar(package_dir)
    assert "array faces has indices" in assert_one_line(info.value, package_dir, "mesh.npz")


def test_pickled_npz_is_refused(package_dir: Path) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, faces=np.array([object()], dtype=object))
    (package_dir / "mesh.npz").write_bytes(buf.getvalue())
    reseal(package_dir)
    with pytest.raises(errors.InvalidMemberError) as info:
        load_avatar(package_dir)
    assert "without pickles" in assert_one_line(info.value, package_dir, "mesh.npz")


def test_non_finite_npz(package_dir: Path) -> None:
    b0 = read_npz(package_dir / "pixel_mlp.npz")["b0"].copy()
    b0[3] = np.nan
    rewrite_npz(package_dir, "pixel_mlp.npz", b0=b0)
    with pytest.raises(errors.NonFiniteWeightsError) as info:
        load_avatar(package_dir)
    assert "array b0 holds 1 NaN/inf" in assert_one_line(info.value, package_dir, "pixel_mlp.npz")


def test_non_finite_onnx_initializer(package_dir: Path) -> None:
    model = load_decoder(package_dir)
    init = next(i for i in model.graph.initializer if i.name == "rest")
    array = numpy_helper.to_array(init).copy()
    array[7] = np.inf
    init.CopyFrom(numpy_helper.from_array(array, "rest"))
    save_decoder(package_dir, model)
    with pytest.raises(errors.NonFiniteWeightsError) as info:
        load_avatar(package_dir)
    assert "initializer rest holds 1 NaN/inf" in assert_one_line(info.value, package_dir, "decoder.onnx")


def test_onnx_output_shape_differs_from_manifest(package_dir: Path) -> None:
    model = load_decoder(package_dir)
    features = next(o for o in model.graph.output if o.name == "features")
    features.type.tensor_type.shape.dim[2].dim_value = 32
    save_decoder(package_dir, model)
    with pytest.raises(errors.TensorShapeError) as info:
        load_avatar(package_dir)
    assert "features has shape ['batch', 8, 32, 64], avatar.json says [1, 8, 64, 64]" in assert_one_line(
        info.value, package_dir, "decoder.onnx")


def test_onnx_input_name(package_dir: Path) -> None:
    model = load_decoder(package_dir)
    model.graph.input[0].name = "code"
    for node in model.graph.node:
        node.input[:] = ["code" if n == "latent" else n for n in node.input]
    save_decoder(package_dir, model)
    with pytest.raises(errors.TensorShapeError) as info:
        load_avatar(package_dir)
    assert "has inputs ['code', 'view_dir'], expected ['latent', 'view_dir']" in assert_one_line(
        info.value, package_dir, "decoder.onnx")


def test_onnx_latent_dim_differs(package_dir: Path) -> None:
    manifest = json.loads((package_dir / "avatar.json").read_text())
    manifest["latent"]["segments"][0]["size"] += 1
    (package_dir / "avatar.json").write_text(json.dumps(manifest))
    with pytest.raises(errors.TensorShapeError) as info:
        load_avatar(package_dir)
    assert "latent has shape ['batch', 56], avatar.json says [1, 57]" in assert_one_line(
        info.value, package_dir, "decoder.onnx")


def test_onnx_garbage(package_dir: Path) -> None:
    (package_dir / "decoder.onnx").write_bytes(b"\x08\x01garbage" * 10)
    reseal(package_dir)
    with pytest.raises(errors.InvalidMemberError) as info:
        load_avatar(package_dir)
    assert_one_line(info.value, package_dir, "decoder.onnx")


def test_onnx_external_data_refused(package_dir: Path) -> None:
    model = load_decoder(package_dir)
    init = next(i for i in model.graph.initializer if i.name == "rest")
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", "rest.bin"
    save_decoder(package_dir, model)
    with pytest.raises(errors.InvalidMemberError) as info:
        load_avatar(package_dir)
    assert "external data" in assert_one_line(info.value, package_dir, "decoder.onnx")


def test_onnx_custom_domain_refused(package_dir: Path) -> None:
    model = load_decoder(package_dir)
    model.opset_import.append(helper.make_opsetid("com.example.evil", 1))
    save_decoder(package_dir, model)
    with pytest.raises(errors.InvalidMemberError) as info:
        load_avatar(package_dir)
    assert "custom operator domain" in assert_one_line(info.value, package_dir, "decoder.onnx")


def test_check_onnx_false_skips_static_checks(package_dir: Path) -> None:
    model = load_decoder(package_dir)
    model.opset_import.append(helper.make_opsetid("com.example.evil", 1))
    save_decoder(package_dir, model)
    assert load_avatar(package_dir, check_onnx=False).manifest.avatar_id == "synthetic-0"


def test_oversized_total(package_zip: Path, package_dir: Path) -> None:
    for path in (package_zip, package_dir):
        with pytest.raises(errors.PackageTooLargeError) as info:
            load_avatar(path, max_total_bytes=200_000)
        assert "over the limit" in assert_one_line(info.value, path, None)


def test_oversized_member(package_dir: Path) -> None:
    with pytest.raises(errors.PackageTooLargeError) as info:
        load_avatar(package_dir, max_member_bytes=100_000)
    assert "over the limit of 100000 bytes" in assert_one_line(info.value, package_dir, "decoder.onnx")


def test_zip_bomb_refused_by_declared_size(package_dir: Path, tmp_path: Path) -> None:
    files = files_of(package_dir)
    files["mesh.npz"] = bytes(80 * 1024 * 1024)  # 80 MiB of zeros deflate to ~80 KiB
    bomb = tmp_path / "bomb.cavatar"
    bomb.write_bytes(zip_bytes(files))
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(errors.PackageTooLargeError) as info:
        load_avatar(bomb)
    assert_one_line(info.value, bomb, "mesh.npz")


@pytest.mark.parametrize("name", ["../evil.onnx", "/etc/evil.onnx", "encoders/../../evil.onnx", "C:/evil.onnx",
                                  "encoders\\evil.onnx"])
def test_unsafe_member_path(package_dir: Path, tmp_path: Path, name: str) -> None:
    files = files_of(package_dir)
    path = tmp_path / "escape.cavatar"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
        zf.writestr(name, b"x")
    with pytest.raises(errors.UnsafeMemberPathError) as info:
        load_avatar(path)
    assert_one_line(info.value, path, repr(name))


def test_symlink_member(package_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, package_dir / "link.txt")
    with pytest.raises(errors.UnsafeMemberPathError) as info:
        load_avatar(package_dir)
    assert "symbolic link" in assert_one_line(info.value, package_dir, "link.txt")


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_zip(package_zip: Path, keep: float) -> None:
    data = package_zip.read_bytes()
    package_zip.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(errors.CorruptArchiveError) as info:
        load_avatar(package_zip)
    assert "download or copy the .cavatar again" in assert_one_line(info.value, package_zip, None)


def test_zip_crc_error(package_zip: Path) -> None:
    data = bytearray(package_zip.read_bytes())
    with zipfile.ZipFile(package_zip) as zf:
        info = zf.getinfo("pixel_mlp.npz")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start] ^= 0xFF  # inside the deflated data of pixel_mlp.npz
    package_zip.write_bytes(bytes(data))
    with pytest.raises(errors.CorruptArchiveError) as info_err:
        load_avatar(package_zip)
    assert_one_line(info_err.value, package_zip, "pixel_mlp.npz")


def test_every_error_is_a_codecav_error() -> None:
    from codecav.errors import CodecavError

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.AvatarFormatError)]
    assert len(classes) >= 14
    assert all(issubclass(c, CodecavError) for c in classes)
