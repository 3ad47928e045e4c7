"""Static checks of ONNX members with the `onnx` package only (nothing is executed): parse and checker,
no external data or custom-domain operators, finite initializers and constants, the decoder's
input/output names, element types, ranks and static dimensions against the manifest, and (through
codecav.assets.graph_bounds) the operator allowlist and the bounds on every tensor and on the work."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
from onnx import numpy_helper

from codecav.assets.errors import InvalidMemberError, NonFiniteWeightsError, TensorShapeError
from codecav.assets.graph_bounds import GraphLimits, check_graph_bounds, check_output_shapes, interface_shapes
from codecav.assets.package import AvatarManifest

DECODER_INPUT_NAMES = ("latent", "view_dir")
"""Decoder inputs (mirrors codecav.decoders.base.DECODER_INPUTS; assets must not import decoders)."""
DECODER_OUTPUT_NAMES = ("geometry", "features")
"""Decoder outputs (mirrors codecav.decoders.base.DECODER_OUTPUTS)."""
STANDARD_DOMAINS = ("", "ai.onnx")
"""Operator domains a package model may use; custom ops would need code outside the package."""

_FIX = "re-export the avatar"


def parse_model(data: bytes, source: str, member: str) -> onnx.ModelProto:
    """Parse and statically check one ONNX member; InvalidMemberError or NonFiniteWeightsError."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf DecodeError and friends
        raise InvalidMemberError(source, member, f"is not an ONNX model ({type(exc).__name__})", _FIX) from None
    # Before the checker: it would look for external data files on disk.
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise InvalidMemberError(source, member, f"imports the custom operator domain {opset.domain!r}",
                                     f"{_FIX} with standard ONNX operators only")
    tensors = list(_tensors(model.graph))
    for name, tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise InvalidMemberError(source, member, f"tensor {name} refers to external data",
                                     f"{_FIX} with weights embedded in the .onnx file")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError, also for unknown ops
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidMemberError(source, member, f"fails the ONNX checker ({first[:200]})", _FIX) from None
    for name, tensor in tensors:
        try:
            array = numpy_helper.to_array(tensor)
        except Exception as exc:  # malformed raw_data
            raise InvalidMemberError(source, member, f"tensor {name} cannot be read ({type(exc).__name__})",
                                     _FIX) from None
        if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise NonFiniteWeightsError(source, member, f"initializer {name} holds {bad} NaN/inf value(s)",
                                        f"{_FIX} from a checkpoint without NaN/inf")
    return model


def _tensors(graph: onnx.GraphProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    """Every weight of a graph: initializers, Constant/attribute tensors, recursing into subgraphs."""
    for init in graph.initializer:
        yield init.name or "<unnamed>", init
    for sparse in graph.sparse_initializer:
        yield sparse.values.name or "<sparse>", sparse.values
    for node in graph.node:
        for attr in node.attribute:
            label = f"{node.name or node.op_type}.{attr.name}"
            if attr.HasField("t"):
                yield label, attr.t
            for t in attr.tensors:
                yield label, t
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def _dims(value: onnx.ValueInfoProto) -> tuple[int, list[int | str | None]]:
    """(element type, dims): int for a static dim, str for a symbolic one, None when unknown."""
    tensor_type = value.type.tensor_type
    dims: list[int | str | None] = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return int(tensor_type.elem_type), dims


def decoder_shapes(manifest: AvatarManifest) -> dict[str, list[int]]:
    """The decoder's input and output shapes for `manifest`: latent [1, D], view_dir [1, 3], geometry
    [1, V, 3], features [1, C, H, W]."""
    fm = manifest.feature_map
    return {
        "latent": [1, manifest.latent.dim],
        "view_dir": [1, 3],
        "geometry": [1, manifest.mesh.num_vertices, 3],
        "features": [1, fm.channels, fm.height, fm.width],
    }


def check_decoder_io(model: onnx.ModelProto, manifest: AvatarManifest, source: str, member: str) -> None:
    """The decoder takes latent [1, D], view_dir [1, 3] and gives geometry [1, V, 3], features [1, C, H, W]
    (float32; batch 1 or symbolic; other dims equal to the manifest's when static)."""
    expected = decoder_shapes(manifest)
    initializers = {i.name for i in model.graph.initializer}
    inputs = {v.name: v for v in model.graph.input if v.name not in initializers}
    outputs = {v.name: v for v in model.graph.output}
    for kind, names, have in (("inputs", DECODER_INPUT_NAMES, inputs), ("outputs", DECODER_OUTPUT_NAMES, outputs)):
        if set(have) != set(names):
            raise TensorShapeError(source, member, f"has {kind} {sorted(have)}, expected {list(names)}",
                                   f"{_FIX} with the decoder interface (docs/avatar-format.md)")
    for name, value in {**inputs, **outputs}.items():
        elem, dims = _dims(value)
        want = expected[name]
        if elem != onnx.TensorProto.FLOAT:
            type_name = onnx.TensorProto.DataType.Name(elem) if elem in onnx.TensorProto.DataType.values() else elem
            raise TensorShapeError(source, member, f"{name} is {type_name}, expected FLOAT (float32)", _FIX)
        shown = [d if d is not None else "?" for d in dims]
        if len(dims) != len(want):
            raise TensorShapeError(source, member, f"{name} has shape {shown}, expected {want} (rank {len(want)})",
                                   f"{_FIX} so its I/O matches avatar.json")
        batch_ok = dims[0] in (1, None) or isinstance(dims[0], str)
        rest_ok = all(not isinstance(d, int) or d == w for d, w in zip(dims[1:], want[1:], strict=True))
        if not (batch_ok and rest_ok):
            raise TensorShapeError(source, member, f"{name} has shape {shown}, avatar.json says {want}",
                                   f"{_FIX} so its I/O matches avatar.json")


def check_package_models(decoder: bytes, encoders: dict[str, bytes], manifest: AvatarManifest, source: str,
                         member: str, limits: GraphLimits) -> None:
    """Every static check of a package's ONNX members: parse_model, the decoder interface, and the graph
    bounds (the decoder at the manifest's shapes, encoders at a batch of one). `member` names the decoder."""
    model = parse_model(decoder, source, member)
    check_decoder_io(model, manifest, source, member)
    shapes = decoder_shapes(manifest)
    cost = check_graph_bounds(model, interface_shapes(model, shapes), source, member, limits)
    check_output_shapes(cost, shapes, source, member)
    for name in sorted(encoders):
        encoder = parse_model(encoders[name], source, name)
        check_graph_bounds(encoder, interface_shapes(encoder), source, name, limits)
