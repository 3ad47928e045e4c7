"""Multiface layout: KRT text, writer -> reader round trip, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecav.errors import CodecavError
from codecav.training.multiface import (
    MultifaceCamera,
    MultifaceError,
    MultifaceWriter,
    format_krt,
    parse_krt,
    read_capture,
)


def _cameras() -> list[MultifaceCamera]:
    k = np.array([[500.0, 0, 160], [0, 500.0, 256], [0, 0, 1]])
    ext = np.array([[1.0, 0, 0, 0.01], [0, -1, 0, -0.025], [0, 0, -1, 1.0]])
    return [MultifaceCamera("400000", k, np.zeros(5), ext), MultifaceCamera("400001", k * 1.1, np.zeros(5), ext)]


def test_krt_text_is_millimetres_and_round_trips() -> None:
    text = format_krt(_cameras())
    lines = text.splitlines()
    assert lines[0] == "400000" and lines[5] == "1 0 0 10" and lines[8] == "" and lines[9] == "400001"
    back = parse_krt(text)
    assert [c.name for c in back] == ["400000", "400001"]
    assert np.allclose(back[0].extrinsics, _cameras()[0].extrinsics)
    assert np.allclose(back[1].intrinsics, _cameras()[1].intrinsics)


def test_krt_errors_are_one_line() -> None:
    with pytest.raises(MultifaceError) as err:
        parse_krt("400000\n1 0 0\n0 1 0\n", "cap/KRT")
    assert "cap/KRT" in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, CodecavError)


def test_writer_reader_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    writer = MultifaceWriter(tmp_path, _cameras())
    meshes, images, textures = [], [], []
    for i, seg in enumerate(["EXP_random", "EXP_random", "SEN_0"]):
        mesh = rng.normal(0, 0.1, size=(50, 3)).astype(np.float32)
        image = rng.integers(0, 255, size=(32, 20, 3), dtype=np.uint8)
        tex = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
        pose = np.concatenate([np.eye(3), [[0.001 * i], [0.0], [0.0]]], axis=1)
        writer.write_frame(seg, {"400000": image, "400001": image}, mesh, pose, tex, np.full(52, i / 10))
        meshes.append(mesh)
        images.append(image)
        textures.append(tex)
    writer.write_audio("SEN_0", np.zeros(1600, np.int16), 16000)
    writer.finish()
    assert (tmp_path / "frame_list.txt").read_text() == "EXP_random 000000\nEXP_random 000001\nSEN_0 000002\n"
    raw = np.fromfile(tmp_path / "tracked_mesh" / "SEN_0" / "000002.bin", dtype=np.float32)
    assert np.allclose(raw.reshape(-1, 3), meshes[2] * 1000, atol=1e-3)  # files hold millimetres

    cap = read_capture(tmp_path)
    assert [c.name for c in cap.cameras] == ["400000", "400001"]
    assert np.allclose(cap.cameras[0].extrinsics, _cameras()[0].extrinsics)
    assert [(f.segment, f.frame) for f in cap.frames] == [
        ("EXP_random", "000000"), ("EXP_random", "000001"), ("SEN_0", "000002")]
    for i, ref in enumerate(cap.frames):
        assert np.allclose(cap.mesh(ref), meshes[i], atol=1e-6)
        assert np.array_equal(cap.image(ref, "400001"), images[i])
        assert np.array_equal(cap.texture(ref), textures[i])
        assert np.allclose(cap.transform(ref)[:, 3], [0.001 * i, 0, 0])
    assert np.allclose(cap.vert_mean, np.mean(meshes, axis=0), atol=1e-6)
    assert cap.expressions is not None and np.allclose(cap.expressions[:, 0], [0, 0.1, 0.2])
    # The stored PNG is flipped (top row = v 1), as in Multiface.
    from PIL import Image

    stored = np.asarray(Image.open(tmp_path / "unwrapped_uv_1024" / "SEN_0" / "average" / "000002.png"))
    assert np.array_equal(stored, textures[2][::-1])


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(MultifaceError, match="not a directory"):
        read_capture(tmp_path / "nope")
    writer = MultifaceWriter(tmp_path, _cameras())
    writer.write_frame("S", {}, np.zeros((4, 3)), np.eye(3, 4), np.zeros((8, 8, 3), np.uint8), np.zeros(52))
    writer.finish()
    cap = read_capture(tmp_path)
    (tmp_path / "tracked_mesh" / "S" / "000000.bin").write_bytes(b"\0" * 8)
    with pytest.raises(MultifaceError, match="000000.bin: 2 floats"):
        cap.mesh(cap.frames[0])
    with pytest.raises(MultifaceError, match="missing"):
        cap.image(cap.frames[0], "400000")
    (tmp_path / "vert_var.txt").unlink()
    with pytest.raises(MultifaceError, match="vert_var.txt: missing"):
        read_capture(tmp_path)
