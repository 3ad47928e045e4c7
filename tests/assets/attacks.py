"""Hostile packages, made by the tests: decoders that pass the classic static checks (hashes, checker,
interface, finite weights) but would hang, allocate without bound or fill the terminal with onnxruntime's
log, and manifests nested past any parser's recursion limit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.assets.helpers import load_decoder, save_decoder


def _rewire_geometry(model: onnx.ModelProto) -> None:
    """Rename the tensor the graph outputs as 'geometry' to 'geometry_pre', so a test can append nodes."""
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name == "geometry":
                node.output[i] = "geometry_pre"


def _add_scalar_to_geometry(model: onnx.ModelProto, scalar: str) -> None:
    """geometry = geometry_pre + `scalar` (a float tensor the test's nodes compute)."""
    _rewire_geometry(model)
    model.graph.node.append(helper.make_node("Add", ["geometry_pre", scalar], ["geometry"]))


def _save(package_dir: Path, model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model)  # the attack must pass the classic static checks
    save_decoder(package_dir, model)


def add_huge_loop(package_dir: Path, trip_count: int = 2**62) -> None:
    """A Loop that adds 1 to a scalar `trip_count` times; its result is added to the geometry."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "loop_one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(np.array(0.0, np.float32), "loop_one")],
    )
    model = load_decoder(package_dir)
    model.graph.initializer.extend([
        numpy_helper.from_array(np.array(trip_count, np.int64), "trip_count"),
        numpy_helper.from_array(np.array(True), "loop_cond"),
        numpy_helper.from_array(np.array(0.0, np.float32), "loop_v0"),
    ])
    model.graph.node.append(helper.make_node("Loop", ["trip_count", "loop_cond", "loop_v0"], ["loop_v"], body=body))
    _add_scalar_to_geometry(model, "loop_v")
    _save(package_dir, model)


def add_constant_of_shape(package_dir: Path, shape: list[int]) -> None:
    """A ConstantOfShape of `shape` (float zeros), summed to a scalar that is added to the geometry."""
    model = load_decoder(package_dir)
    model.graph.initializer.append(numpy_helper.from_array(np.array(shape, np.int64), "big_shape"))
    model.graph.node.extend([
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"],
                         value=numpy_helper.from_array(np.array([0.0], np.float32))),
        helper.make_node("ReduceSum", ["big"], ["big_sum"], keepdims=0),
    ])
    _add_scalar_to_geometry(model, "big_sum")
    _save(package_dir, model)


def add_gather_out_of_range(package_dir: Path, num_vertices: int) -> None:
    """geometry = Gather(geometry_pre, indices past the last vertex): static shapes fine, onnxruntime fails at
    run time (and logs an error line)."""
    model = load_decoder(package_dir)
    _rewire_geometry(model)
    model.graph.initializer.append(
        numpy_helper.from_array(np.full(num_vertices, num_vertices + 7, np.int64), "bad_index"))
    model.graph.node.append(helper.make_node("Gather", ["geometry_pre", "bad_index"], ["geometry"], axis=1))
    _save(package_dir, model)


def add_unused_initializer(package_dir: Path) -> None:
    """An initializer no node reads: onnxruntime warns about it (several coloured lines) when it loads."""
    model = load_decoder(package_dir)
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(4, np.float32), "unused_weight"))
    _save(package_dir, model)


def add_data_sized_reshape(package_dir: Path) -> None:
    """features reshaped to a shape read from the latent code: its size is not known before it runs."""
    model = load_decoder(package_dir)
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name == "features":
                node.output[i] = "features_pre"
    model.graph.initializer.extend([
        numpy_helper.from_array(np.array([0], np.int64), "s_start"),
        numpy_helper.from_array(np.array([4], np.int64), "s_end"),
        numpy_helper.from_array(np.array([1], np.int64), "s_axis"),
    ])
    model.graph.node.extend([
        helper.make_node("Slice", ["latent", "s_start", "s_end", "s_axis"], ["shape_f"]),
        helper.make_node("Reshape", ["shape_f", "s_end"], ["shape_f1"]),
        helper.make_node("Cast", ["shape_f1"], ["shape_i"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["features_pre", "shape_i"], ["features"]),
    ])
    _save(package_dir, model)


def nest_manifest(package_dir: Path, depth: int) -> None:
    """avatar.json with provenance.data nested `depth` objects deep (written by hand: json.dumps recurses)."""
    manifest = json.loads((package_dir / "avatar.json").read_text())
    manifest["provenance"] = {"kind": "synthetic-random", "data": "@@"}
    text = json.dumps(manifest).replace('"@@"', '{"a": ' * depth + "1" + "}" * depth)
    (package_dir / "avatar.json").write_text(text)


def slow_decoder(latent_dim: int, num_vertices: int, channels: int, height: int, width: int, *,
                 side: int = 1024, matmuls: int = 1000) -> bytes:
    """A decoder with the interface whose run takes `matmuls` products of [side, side] matrices (about
    2 * side**3 * matmuls flops, tens of seconds at the defaults), each reading the latent code so that
    nothing folds at load time."""
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((side, side)) / side).astype(np.float32)
    nodes = [helper.make_node("ReduceSum", ["latent"], ["l_sum"], keepdims=0),
             helper.make_node("ReduceSum", ["view_dir"], ["view_sum"], keepdims=0),
             helper.make_node("Add", ["x0", "l_sum"], ["h0"])]
    for i in range(matmuls):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", [f"h{matmuls}"], ["h_sum"], keepdims=0),
        helper.make_node("Mul", ["h_sum", "zero"], ["h_zero"]),
        helper.make_node("Add", ["geo0", "h_zero"], ["geometry_v"]),
        helper.make_node("Add", ["geometry_v", "view_sum"], ["geometry"]),
        helper.make_node("Add", ["feat0", "h_zero"], ["features"]),
    ]
    inits = [
        numpy_helper.from_array(weight, "w"),
        numpy_helper.from_array(np.ones((side, side), np.float32), "x0"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.zeros((1, num_vertices, 3), np.float32), "geo0"),
        numpy_helper.from_array(np.zeros((1, channels, height, width), np.float32), "feat0"),
    ]
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, [1, latent_dim]),
         helper.make_tensor_value_info("view_dir", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("geometry", TensorProto.FLOAT, [1, num_vertices, 3]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, channels, height, width])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
