"""compact_model / compact_package: large decoder weights stored as int8 rows or float16, widened when loaded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from codecav.assets.loader import load_avatar
from codecav.assets.onnx_compact import FLOAT16_MAX, INT8_MIN_ROWS, compact_model, compact_package, int8_rows
from codecav.assets.samples import SAMPLES_DIR, sample_avatar_paths
from codecav.assets.writer import write_avatar


def _model(geometry: np.ndarray, square: np.ndarray, huge: np.ndarray) -> bytes:
    """x [1, C] -> geometry [R, C] rows (Gemm, transB), x @ square[:C] + 1, and huge's first row (float32)."""
    columns = geometry.shape[1]
    bias = np.ones(square.shape[1], np.float32)
    inits = [numpy_helper.from_array(geometry, "geometry.weight"), numpy_helper.from_array(square, "square"),
             numpy_helper.from_array(huge, "huge"), numpy_helper.from_array(bias, "bias")]
    nodes = [helper.make_node("Gemm", ["x", "geometry.weight"], ["g"], transB=1),
             helper.make_node("Slice", ["square", "start", "stop"], ["top"]),
             helper.make_node("MatMul", ["x", "top"], ["s0"]),
             helper.make_node("Add", ["s0", "bias"], ["s"]),
             helper.make_node("Gather", ["huge", "zero"], ["h"], axis=0)]
    inits += [numpy_helper.from_array(np.array([0], np.int64), "start"),
              numpy_helper.from_array(np.array([columns], np.int64), "stop"),
              numpy_helper.from_array(np.array(0, np.int64), "zero")]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, columns])],
                              [helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, len(geometry)]),
                               helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, square.shape[1]]),
                               helper.make_tensor_value_info("h", TensorProto.FLOAT, [huge.shape[1]])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_int8_rows_keep_each_row_within_half_a_step_of_its_own_scale() -> None:
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(50, 7)).astype(np.float32) * rng.uniform(1e-4, 10, size=(50, 1)).astype(np.float32)
    weight[3] = 0.0
    quantized, scale = int8_rows(weight)
    assert quantized.dtype == np.int8 and scale.shape == (50, 1) and scale[3, 0] == 1.0
    assert np.all(np.abs(quantized.astype(np.float32) * scale - weight) <= scale / 2 + 1e-7)
    assert np.all(np.abs(quantized).max(axis=1)[np.arange(50) != 3] == 127)  # each row uses its whole range


def test_large_weights_narrow_and_the_model_computes_nearly_the_same() -> None:
    rng = np.random.default_rng(1)
    geometry = rng.normal(size=(INT8_MIN_ROWS + 3, 64)).astype(np.float32)
    square = rng.normal(size=(300, 300)).astype(np.float32)  # 90,000 elements: float16
    huge = np.full((300, 300), 2 * FLOAT16_MAX, np.float32)  # beyond float16: stays float32
    model = _model(geometry, square, huge)
    small, report = compact_model(model)
    assert report.int8 == ("geometry.weight",) and report.float16 == ("square",)
    # int8 rows take a quarter of the float32 bytes plus a scale per row; float16 a half
    assert report.bytes_after == len(small) < len(model) - 0.7 * geometry.nbytes - 0.45 * square.nbytes
    names = {i.name: i.data_type for i in onnx.load_from_string(small).graph.initializer}
    assert names["geometry.weight::int8"] == TensorProto.INT8 and names["square::float16"] == TensorProto.FLOAT16
    assert names["huge"] == TensorProto.FLOAT and names["bias"] == TensorProto.FLOAT
    x = rng.normal(size=(1, 64)).astype(np.float32)
    (g0, s0, h0), (g1, s1, h1) = _run(model, x), _run(small, x)
    step = np.abs(geometry).max(axis=1) / 127
    assert np.all(np.abs(g1 - g0)[0] <= step / 2 * np.abs(x).sum() + 1e-5)
    # float16 rounds each weight by at most 2^-11 of itself
    assert np.all(np.abs(s1 - s0) <= 2.0**-11 * (np.abs(x) @ np.abs(square[:64])) + 1e-5)
    assert np.array_equal(h1, h0)
    assert compact_model(small)[0] == small  # nothing left to narrow: the same bytes


def _widened(model_bytes: bytes) -> bytes:
    """A compacted model with its narrowed weights widened back to float32 initializers (the float32 decoder the
    shipped samples had before they were compacted, up to rounding)."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    widening = [n for n in graph.node if n.name.endswith(("::cast", "::scale"))]
    wide: dict[str, np.ndarray] = {}
    for node in widening:
        if node.op_type == "Mul":
            name = node.output[0]
            wide[name] = arrays[f"{name}::int8"].astype(np.float32) * arrays[f"{name}::scale"]
        elif node.input[0].endswith("::float16"):
            wide[node.output[0]] = arrays[node.input[0]].astype(np.float32)
    kept = [i for i in graph.initializer if "::" not in i.name]
    del graph.initializer[:]
    graph.initializer.extend([*kept, *(numpy_helper.from_array(a, n) for n, a in wide.items())])
    nodes = [n for n in graph.node if n not in widening]
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def test_the_shipped_samples_are_compacted() -> None:
    for path in sample_avatar_paths(include_baselines=True):
        weights = load_avatar(path).manifest.provenance["decoder_weights"]
        compacted_by = weights.get("command", "")  # none: `avatar build` compacted it
        assert compacted_by in ("", f"codecav avatar compact codecav/assets/samples/{path.name}")
        assert weights["decoder_bytes"] < 0.6 * weights["decoder_bytes_float32"]


def test_a_compacted_package_is_smaller_verifies_and_decodes_as_before(tmp_path: Path) -> None:
    shipped = load_avatar(SAMPLES_DIR / "lee.cavatar")
    package = replace(shipped, decoder_onnx=_widened(shipped.decoder_onnx))  # lee as it was trained (float32)
    compacted, report = compact_package(package, "codecav avatar compact lee.cavatar")
    assert report.int8 == ("model.geometry.weight",)  # one row per vertex coordinate
    assert report.float16 == ("model.uv.bias", "model.uv.fc.weight")
    weights = compacted.manifest.provenance["decoder_weights"]
    assert weights["command"] == "codecav avatar compact lee.cavatar" and weights["decoder_bytes"] == report.bytes_after
    assert report.bytes_after < 0.4 * report.bytes_before
    loaded = load_avatar(write_avatar(compacted, tmp_path / "lee.cavatar"))  # hashes, shapes, graph checks
    dim = sum(s.size for s in package.manifest.latent.segments)
    sessions = [ort.InferenceSession(p.decoder_onnx, providers=["CPUExecutionProvider"]) for p in (package, loaded)]
    rng = np.random.default_rng(2)
    feed = {"latent": rng.normal(size=(1, dim)).astype(np.float32), "view_dir": np.array([[0.2, 0.0, 1.0]], np.float32)}
    (g0, f0), (g1, f1) = (s.run(None, feed) for s in sessions)
    assert np.abs(g1 - g0).max() < 1e-3 * np.ptp(g0)  # geometry: under a thousandth of the head's extent
    assert np.abs(f1 - f0).max() < 1e-2 * f0.std()
