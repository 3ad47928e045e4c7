"""Helpers to damage packages on purpose and to check error messages."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from codecav.assets.errors import AvatarFormatError


def reseal(package_dir: Path) -> None:
    """Recompute avatar.json's member hashes from the files, so a test reaches the check after hashing."""
    manifest = json.loads((package_dir / "avatar.json").read_text())
    manifest["members"] = {
        name: hashlib.sha256((package_dir / name).read_bytes()).hexdigest() for name in manifest["members"]
    }
    (package_dir / "avatar.json").write_text(json.dumps(manifest, indent=2))


def edit_manifest(package_dir: Path, **changes: Any) -> None:
    """Set top-level manifest fields."""
    manifest = json.loads((package_dir / "avatar.json").read_text())
    manifest.update(changes)
    (package_dir / "avatar.json").write_text(json.dumps(manifest, indent=2))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def rewrite_npz(package_dir: Path, member: str, **arrays: np.ndarray) -> None:
    """Replace (or add) arrays in an .npz member and reseal the manifest."""
    content = read_npz(package_dir / member)
    content.update(arrays)
    buf = io.BytesIO()
    np.savez(buf, **content)  # type: ignore[arg-type]  # numpy stubs type **kwds as ArrayLike with bool
    (package_dir / member).write_bytes(buf.getvalue())
    reseal(package_dir)


def load_decoder(package_dir: Path) -> onnx.ModelProto:
    """The package's decoder.onnx as a proto."""
    return onnx.load_model_from_string((package_dir / "decoder.onnx").read_bytes())


def save_decoder(package_dir: Path, model: onnx.ModelProto) -> None:
    """Write decoder.onnx and reseal."""
    (package_dir / "decoder.onnx").write_bytes(model.SerializeToString())
    reseal(package_dir)


def assert_one_line(error: AvatarFormatError, package: Path, member: str | None) -> str:
    """The message is one line naming the package path, the member (if any) and a fix after ';'."""
    message = str(error)
    assert "\n" not in message, message
    assert message.startswith(f"{package}: "), message
    if member is not None:
        assert f"member {member} " in message, message
        assert error.member == member
    assert "; " in message and error.fix, message
    return message
