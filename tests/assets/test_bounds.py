"""Static bounds on untrusted package contents (no model runs): the operator allowlist, the shape pass over
every intermediate tensor, the work estimate, npz headers and manifest nesting; and the shipped samples
within all of them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from codecav.assets import errors
from codecav.assets.archive import PackageLimits
from codecav.assets.graph_bounds import ALLOWED_OPS, GraphLimits, check_graph_bounds, interface_shapes
from codecav.assets.loader import load_avatar, open_avatar
from codecav.assets.manifest import MAX_MANIFEST_DEPTH
from codecav.assets.onnx_checks import decoder_shapes
from codecav.assets.package import AvatarPackage
from codecav.assets.samples import sample_avatar_paths
from codecav.bounded_json import JsonBoundsError, json_depth, loads_bounded
from tests.assets.attacks import (
    add_constant_of_shape,
    add_data_sized_reshape,
    add_gather_out_of_range,
    add_huge_loop,
    nest_manifest,
)
from tests.assets.helpers import assert_one_line, reseal


def test_loop_is_refused_by_the_allowlist(package_dir: Path) -> None:
    add_huge_loop(package_dir)
    with pytest.raises(errors.UnboundedModelError) as info:
        load_avatar(package_dir)
    message = assert_one_line(info.value, package_dir, "decoder.onnx")
    assert info.value.reason == "model_op_not_allowed"
    assert "operator Loop (control flow" in message


@pytest.mark.parametrize("shape", [[64, 1024, 1024, 1024], [1, 1024, 1024, 1024], [1, 300, 1024, 1024]],
                         ids=["256GiB", "4GiB", "1.2GiB"])
def test_huge_constant_of_shape_is_refused_before_allocation(package_dir: Path, shape: list[int]) -> None:
    add_constant_of_shape(package_dir, shape)
    with pytest.raises(errors.UnboundedModelError) as info:
        load_avatar(package_dir)
    message = assert_one_line(info.value, package_dir, "decoder.onnx")
    assert info.value.reason == "model_tensor_too_large"
    assert f"tensor big {shape}" in message and "over the limit of 256.0 MiB per tensor" in message


def test_small_constant_of_shape_passes(package_dir: Path) -> None:
    add_constant_of_shape(package_dir, [1, 16, 64, 64])
    assert load_avatar(package_dir).manifest.avatar_id


def test_data_sized_tensor_is_refused(package_dir: Path) -> None:
    add_data_sized_reshape(package_dir)
    with pytest.raises(errors.UnboundedModelError) as info:
        load_avatar(package_dir)
    assert info.value.reason == "model_shape_unbounded"
    assert "output features of node" in assert_one_line(info.value, package_dir, "decoder.onnx")


def test_out_of_range_gather_passes_the_static_checks(package_dir: Path, synthetic: AvatarPackage) -> None:
    # Shapes are fine; only running it fails (test_trial and the CLI tests cover that).
    add_gather_out_of_range(package_dir, synthetic.manifest.mesh.num_vertices)
    assert load_avatar(package_dir).manifest.mesh.num_vertices == synthetic.manifest.mesh.num_vertices


def test_inconsistent_reshape_is_refused_statically(package_dir: Path) -> None:
    model = onnx.load_model_from_string((package_dir / "decoder.onnx").read_bytes())
    shape = next(i for i in model.graph.initializer if i.name == "geo_shape")
    shape.CopyFrom(onnx.numpy_helper.from_array(np.array([-1, 7, 3], np.int64), "geo_shape"))  # 3V % 21 != 0
    (package_dir / "decoder.onnx").write_bytes(model.SerializeToString())
    reseal(package_dir)
    with pytest.raises(errors.UnboundedModelError) as info:
        load_avatar(package_dir)
    assert info.value.reason == "model_shape_invalid"
    assert "node geometry (Reshape) fails shape inference" in str(info.value)


@pytest.mark.parametrize(("limits", "reason", "words"), [
    (GraphLimits(max_nodes=5), "model_too_many_nodes", "nodes, over the limit of 5"),
    (GraphLimits(max_macs=1_000_000), "model_compute_too_large", "G multiply-adds per run"),
    (GraphLimits(max_total_bytes=1024), "model_memory_too_large", "in all, over the limit of"),
])
def test_graph_limits(package_dir: Path, limits: GraphLimits, reason: str, words: str) -> None:
    with pytest.raises(errors.UnboundedModelError) as info:
        open_avatar(package_dir, limits=PackageLimits(graph=limits))
    assert info.value.reason == reason
    assert words in assert_one_line(info.value, package_dir, "decoder.onnx")


def test_allowlist_leaves_out_unbounded_operators() -> None:
    for op in ("Loop", "Scan", "If", "NonZero", "Unique", "Compress", "TopK", "Einsum", "SequenceMap", "LSTM"):
        assert op not in ALLOWED_OPS, op
    for schema in ALLOWED_OPS:  # every name is a real standard operator
        assert onnx.defs.has(schema), schema


@pytest.mark.parametrize("path", sample_avatar_paths(include_baselines=True), ids=lambda p: p.name)
def test_shipped_samples_are_within_every_bound(path: Path) -> None:
    package = load_avatar(path)  # allowlist and shape pass included
    model = onnx.load_model_from_string(package.decoder_onnx)
    shapes = decoder_shapes(package.manifest)
    cost = check_graph_bounds(model, interface_shapes(model, shapes), str(path), "decoder.onnx")
    assert cost.output_shapes == {"geometry": tuple(shapes["geometry"]), "features": tuple(shapes["features"])}
    limits = GraphLimits()
    assert cost.largest_tensor_bytes < limits.max_tensor_bytes / 8
    assert cost.macs < limits.max_macs / 20
    assert package.encoders_onnx  # their encoders went through the same checks


def test_deeply_nested_manifest_is_one_line(package_dir: Path) -> None:
    nest_manifest(package_dir, 100_000)
    with pytest.raises(errors.ManifestError) as info:
        load_avatar(package_dir)
    message = assert_one_line(info.value, package_dir, "avatar.json")
    assert info.value.reason == "manifest_too_deep"
    assert f"over the limit of {MAX_MANIFEST_DEPTH}" in message


def test_manifest_nesting_within_the_limit_still_reaches_the_schema(package_dir: Path) -> None:
    nest_manifest(package_dir, MAX_MANIFEST_DEPTH - 3)  # provenance.data sits 2 levels down
    assert load_avatar(package_dir).manifest.provenance["kind"] == "synthetic-random"


def test_huge_manifest_is_refused(package_dir: Path) -> None:
    (package_dir / "avatar.json").write_bytes(b" " * (2 * 1024 * 1024) + b"{}")
    with pytest.raises(errors.ManifestError) as info:
        load_avatar(package_dir)
    assert info.value.reason == "manifest_too_large"


def _npz_with_header(shape: tuple[int, ...], descr: str, payload: bytes) -> bytes:
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": descr, "fortran_order": False, "shape": shape})
    npy.write(payload)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("faces.npy", npy.getvalue())
    return buf.getvalue()


@pytest.mark.parametrize(("shape", "descr", "words"), [
    ((1 << 20, 1 << 20), "<i4", "declares shape [1048576, 1048576]"),
    ((4,), "|O", "has dtype '|O'"),
    ((4,), "<U8", "has dtype '<U8'"),
])
def test_npz_headers_are_checked_before_loading(package_dir: Path, shape: tuple[int, ...], descr: str,
                                                 words: str) -> None:
    (package_dir / "mesh.npz").write_bytes(_npz_with_header(shape, descr, b"\0" * 64))
    reseal(package_dir)
    with pytest.raises(errors.InvalidMemberError) as info:
        load_avatar(package_dir)
    assert words in assert_one_line(info.value, package_dir, "mesh.npz")


def test_bounded_json() -> None:
    assert json_depth('{"a": [1, "[[[", {"b": "\\"]"}]}') == 3
    assert json_depth('"' + '[' * 1000) == 0  # inside an unterminated string: no bracket counts
    assert loads_bounded(b'{"a": [1, 2]}') == {"a": [1, 2]}
    for data, reason in ((b"[" * 40 + b"]" * 40, "json_too_deep"), (b"1" * 100, "json_too_large"),
                         (b'{"a": NaN}', "json_invalid"), (b"\xff", "json_invalid")):
        with pytest.raises(JsonBoundsError) as info:
            loads_bounded(data, max_bytes=90, max_depth=32)
        assert info.value.reason == reason
        assert "\n" not in str(info.value)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_deeply_nested_onnx_protobuf_is_one_line(package_dir: Path) -> None:
    # GraphProto.node (1) -> NodeProto.attribute (5) -> AttributeProto.g (6) -> GraphProto ..., 2000 deep: the
    # bytes protobuf's own builders refuse to make, written by hand.
    graph = b""
    for _ in range(2000):
        graph = _field(1, _field(5, _field(6, graph)))
    model = _varint(1 << 3) + _varint(8) + _field(7, graph)  # ir_version 8, graph
    (package_dir / "decoder.onnx").write_bytes(model)
    reseal(package_dir)
    with pytest.raises(errors.InvalidMemberError) as info:
        load_avatar(package_dir)
    assert "is not an ONNX model" in assert_one_line(info.value, package_dir, "decoder.onnx")
