"""Format v2's quant_table.npz: written at v2 only when present, loaded, hash-checked and range-checked."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codecav.assets import errors
from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage, CodeQuantTable
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.tensors import npz_bytes
from codecav.assets.writer import sha256_hex, write_avatar


@pytest.fixture(scope="module")
def synthetic() -> AvatarPackage:
    return build_synthetic_avatar(seed=0)


def _table(dim: int, step: float = 0.05) -> CodeQuantTable:
    return CodeQuantTable(step=np.full(dim, step, np.float32), center=np.linspace(-0.1, 0.1, dim).astype(np.float32))


def test_table_round_trip_and_version(synthetic: AvatarPackage, tmp_path: Path) -> None:
    dim = synthetic.manifest.latent.dim
    path = write_avatar(replace(synthetic, quant_table=_table(dim)), tmp_path / "v2.cavatar")
    loaded = load_avatar(path)
    assert loaded.manifest.format_version == 2 and "quant_table.npz" in loaded.manifest.members
    assert loaded.quant_table is not None
    np.testing.assert_array_equal(loaded.quant_table.step, np.full(dim, 0.05, np.float32))
    code = np.linspace(-1, 1, dim).astype(np.float32)
    assert np.all(np.abs(loaded.quant_table.dequantize(loaded.quant_table.quantize(code)) - code) <= 0.025 + 1e-6)
    plain = load_avatar(write_avatar(synthetic, tmp_path / "v1.cavatar"))
    assert plain.manifest.format_version == 1 and plain.quant_table is None


def _edit(directory: Path, version: int | None = None, arrays: dict[str, np.ndarray] | None = None) -> None:
    manifest = json.loads((directory / "avatar.json").read_text())
    if version is not None:
        manifest["format_version"] = version
    if arrays is not None:
        data = npz_bytes(arrays)
        (directory / "quant_table.npz").write_bytes(data)
        manifest["members"]["quant_table.npz"] = sha256_hex(data)
    (directory / "avatar.json").write_text(json.dumps(manifest))


def test_v1_manifest_may_not_hold_a_table(synthetic: AvatarPackage, tmp_path: Path) -> None:
    path = write_avatar(replace(synthetic, quant_table=_table(synthetic.manifest.latent.dim)), tmp_path / "pkg")
    _edit(path, version=1)
    with pytest.raises(errors.ManifestError, match="quant_table.npz needs format v2"):
        load_avatar(path)


@pytest.mark.parametrize(("step", "error", "text"), [
    (0.0, errors.TensorShapeError, "array step has entries outside"),
    (np.nan, errors.NonFiniteWeightsError, "array step holds"),
    (1e6, errors.TensorShapeError, "array step has entries outside"),
])
def test_bad_steps_refused(synthetic: AvatarPackage, tmp_path: Path, step: float, error: type[Exception],
                           text: str) -> None:
    dim = synthetic.manifest.latent.dim
    path = write_avatar(replace(synthetic, quant_table=_table(dim)), tmp_path / "pkg")
    _edit(path, arrays={"step": np.full(dim, step, np.float32), "center": np.zeros(dim, np.float32)})
    with pytest.raises(error, match=text) as info:
        load_avatar(path)
    assert "\n" not in str(info.value) and "quant_table.npz" in str(info.value)


def test_wrong_shape_refused(synthetic: AvatarPackage, tmp_path: Path) -> None:
    dim = synthetic.manifest.latent.dim
    path = write_avatar(replace(synthetic, quant_table=_table(dim)), tmp_path / "pkg")
    _edit(path, arrays={"step": np.full(dim - 1, 0.1, np.float32), "center": np.zeros(dim, np.float32)})
    with pytest.raises(errors.TensorShapeError, match=f"expected float32 \\[{dim}\\]"):
        load_avatar(path)


def test_shipped_samples_have_tables() -> None:
    from codecav.assets.samples import sample_avatar_paths

    for path in sample_avatar_paths(include_baselines=True):
        package = load_avatar(path, check_onnx=False)
        assert package.manifest.format_version == 2 and package.quant_table is not None, path.name
