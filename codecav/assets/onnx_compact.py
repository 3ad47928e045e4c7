"""Smaller package models: large float32 weights stored narrower and widened back when the model loads.

A decoder's few big matrices make most of a package (ICT heads: a 62,259 x 64 geometry matrix is 19 of its 20 MiB),
and a package crosses the network once per peer before the first frame shows. So `compact_model` stores

- a 2-D weight with at least INT8_MIN_ROWS rows as int8, one symmetric scale per row (the rows of a Gemm weight
  with transB are its outputs: each vertex coordinate keeps its own range), widened by Cast then Mul;
- any other float32 weight of at least FLOAT16_MIN_ELEMENTS elements as float16, widened by Cast.

Both widenings read only initializers, so onnxruntime folds them into float32 constants when it loads the model
(its default graph optimization): inference runs in float32 as before, at the same speed. Small weights (biases,
convolution kernels, the expression encoder) stay float32. The render cost is measured by `codecav avatar eval`
on the compacted package (see TRAINING.md), not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from codecav.assets.package import AvatarPackage
from codecav.assets.writer import package_member_bytes, sealed_manifest

INT8_MIN_ROWS = 16384
"""A 2-D weight with this many rows or more is stored as int8 rows (per-vertex geometry matrices)."""
FLOAT16_MIN_ELEMENTS = 65536
"""Any other float32 weight this large or larger is stored as float16."""
FLOAT16_MAX = 65504.0
"""Largest finite float16: a weight beyond it stays float32."""


@dataclass(frozen=True)
class CompactReport:
    """What compact_model did."""

    bytes_before: int
    """Serialized model size before."""
    bytes_after: int
    """And after."""
    int8: tuple[str, ...]
    """Initializers stored as int8 rows with a scale each."""
    float16: tuple[str, ...]
    """Initializers stored as float16."""


def int8_rows(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 [R, C], float32 scale [R, 1]) with weight ~= q * scale; an all-zero row gets scale 1."""
    peak = np.abs(weight).max(axis=1, keepdims=True).astype(np.float32)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    return quantized, scale


def compact_model(model_bytes: bytes) -> tuple[bytes, CompactReport]:
    """The model with its large float32 initializers narrowed (see the module docstring), and a report."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    widen: list[onnx.NodeProto] = []
    kept: list[onnx.TensorProto] = []
    as_int8: list[str] = []
    as_float16: list[str] = []
    for init in graph.initializer:
        weight = numpy_helper.to_array(init) if init.data_type == TensorProto.FLOAT else None
        if weight is None or weight.size < FLOAT16_MIN_ELEMENTS or not np.all(np.isfinite(weight)):
            kept.append(init)
            continue
        name = init.name
        if weight.ndim == 2 and weight.shape[0] >= INT8_MIN_ROWS:
            quantized, scale = int8_rows(weight)
            kept += [numpy_helper.from_array(quantized, f"{name}::int8"),
                     numpy_helper.from_array(scale, f"{name}::scale")]
            widen += [helper.make_node("Cast", [f"{name}::int8"], [f"{name}::wide"], to=TensorProto.FLOAT,
                                       name=f"{name}::cast"),
                      helper.make_node("Mul", [f"{name}::wide", f"{name}::scale"], [name], name=f"{name}::scale")]
            as_int8.append(name)
        elif np.abs(weight).max() < FLOAT16_MAX:
            kept.append(numpy_helper.from_array(weight.astype(np.float16), f"{name}::float16"))
            widen.append(helper.make_node("Cast", [f"{name}::float16"], [name], to=TensorProto.FLOAT,
                                          name=f"{name}::cast"))
            as_float16.append(name)
        else:
            kept.append(init)
    if not widen:
        return model_bytes, CompactReport(len(model_bytes), len(model_bytes), (), ())
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = [*widen, *graph.node]  # the widening nodes read only initializers: first keeps the graph sorted
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    out = model.SerializeToString()
    return out, CompactReport(len(model_bytes), len(out), tuple(as_int8), tuple(as_float16))


def compact_package(package: AvatarPackage, command: str = "") -> tuple[AvatarPackage, CompactReport]:
    """`package` with its decoder compacted (compact_model), the change in its provenance (`decoder_weights`,
    with the `command` that did it) and the manifest sealed again; unchanged when there was nothing to narrow."""
    decoder, report = compact_model(package.decoder_onnx)
    if not report.int8 and not report.float16:
        return package, report
    provenance = dict(package.manifest.provenance)
    provenance["decoder_weights"] = {"int8_rows": list(report.int8), "float16": list(report.float16),
                                     "decoder_bytes_float32": report.bytes_before,
                                     "decoder_bytes": report.bytes_after, **({"command": command} if command else {})}
    compacted = replace(package, decoder_onnx=decoder, manifest=replace(package.manifest, provenance=provenance))
    return replace(compacted, manifest=sealed_manifest(compacted, package_member_bytes(compacted))), report
