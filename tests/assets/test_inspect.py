"""describe_avatar and verify_summary, the CLI's views of a package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper

from codecav.assets.errors import HashMismatchError, InvalidMemberError, NonFiniteWeightsError
from codecav.assets.inspect import describe_avatar, verify_summary
from codecav.assets.verify import verify_avatar
from tests.assets.attacks import add_gather_out_of_range
from tests.assets.helpers import load_decoder, save_decoder


def test_describe(package_zip: Path) -> None:
    text = describe_avatar(package_zip)
    for expected in ("synthetic-0", "format   v1", "latent   56 floats: face [0:32], eyes [32:40], mouth [40:56]",
                     "1490 geometry vertices", "8 channels x 64 x 64", "19 -> 16 -> 16 -> 3 (relu",
                     "decoder.onnx", "mesh.npz", "pixel_mlp.npz", "kind: synthetic-random", "untrained",
                     ".cavatar zip"):
        assert expected in text, expected


def test_verify_summary_is_one_ok_line(package_dir: Path) -> None:
    line = verify_summary(package_dir)
    assert line.startswith("OK synthetic-0 (format v1, 4 files") and "\n" not in line
    report = verify_avatar(package_dir)
    assert report.geometry_shape == (1, 1490, 3) and report.features_shape == (1, 8, 64, 64)
    assert 0.15 <= report.rgb_range[0] < report.rgb_range[1] <= 0.9


def test_verify_raises_the_load_error(package_dir: Path) -> None:
    (package_dir / "mesh.npz").write_bytes(b"changed")
    with pytest.raises(HashMismatchError):
        verify_summary(package_dir)


def test_verify_catches_non_finite_output(package_dir: Path) -> None:
    """A graph that is statically fine but decodes inf: Log of a zero code gives -inf geometry."""
    model = load_decoder(package_dir)
    nodes = list(model.graph.node)
    at = next(i for i, n in enumerate(nodes) if n.name == "geo_add")
    nodes[at].output[0] = "geo_sum"
    nodes[at + 1:at + 1] = [
        helper.make_node("ReduceSum", ["latent", "axes1"], ["lat_sum"], keepdims=1, name="lat_sum"),
        helper.make_node("Log", ["lat_sum"], ["log_sum"], name="log"),  # log(0) = -inf for the zero code
        helper.make_node("Add", ["geo_sum", "log_sum"], ["geo_flat"], name="geo_add_inf"),
    ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "axes1"))
    save_decoder(package_dir, model)
    with pytest.raises(NonFiniteWeightsError, match="output geometry holds NaN/inf"):
        verify_summary(package_dir)


def test_verify_catches_runtime_failure(package_dir: Path) -> None:
    add_gather_out_of_range(package_dir, 1490)  # static shapes fine; onnxruntime refuses the indices
    with pytest.raises(InvalidMemberError, match="fails to run on onnxruntime") as info:
        verify_summary(package_dir)
    assert info.value.reason == "trial_run_error" and "\n" not in str(info.value)
