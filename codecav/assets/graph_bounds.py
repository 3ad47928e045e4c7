"""Static cost bounds of package ONNX models, before anything runs: an operator allowlist (no control flow,
no operator whose output size comes from tensor data the package does not fix as a constant), and a shape pass
that derives every intermediate tensor's static shape from the interface dimensions (the manifest's for the
decoder), folding small constant tensors (shape arithmetic, pads, scales) so that e.g. a `ConstantOfShape` is
sized before it is allocated. The largest tensor, the sum of all tensors and the multiply-adds are then held
to GraphLimits. onnxruntime may still allocate scratch space beyond these figures; the trial run
(codecav.assets.trial) caps that with an address-space limit."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from codecav.assets.errors import TensorShapeError, UnboundedModelError

MiB = 1024 * 1024

ALLOWED_OPS = frozenset({
    # elementwise arithmetic, comparison and logic
    "Abs", "Add", "And", "Ceil", "Clip", "Div", "Equal", "Erf", "Exp", "Floor", "Greater", "GreaterOrEqual",
    "IsInf", "IsNaN", "Less", "LessOrEqual", "Log", "Max", "Mean", "Min", "Mod", "Mul", "Neg", "Not", "Or",
    "Pow", "Reciprocal", "Round", "Sign", "Sqrt", "Sub", "Sum", "Where", "Xor",
    "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tanh", "Asinh", "Acosh", "Atanh",
    # activations
    "Celu", "Elu", "Gelu", "HardSigmoid", "HardSwish", "LeakyRelu", "Mish", "PRelu", "Relu", "Selu", "Sigmoid",
    "Softplus", "Softsign", "ThresholdedRelu", "Softmax", "LogSoftmax", "Hardmax",
    # linear algebra, convolution, pooling, normalization
    "Conv", "ConvTranspose", "Gemm", "MatMul", "AveragePool", "MaxPool", "LpPool", "GlobalAveragePool",
    "GlobalMaxPool", "GlobalLpPool", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
    "GroupNormalization", "LpNormalization", "Dropout",
    # reductions
    "ArgMax", "ArgMin", "CumSum", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare",
    # layout and shape (output sizes from attributes, input shapes or folded constants only)
    "Cast", "CastLike", "Concat", "Constant", "ConstantOfShape", "DepthToSpace", "Expand", "Flatten", "Gather",
    "GatherElements", "Identity", "Pad", "Range", "Reshape", "Resize", "Shape", "Size", "Slice", "SpaceToDepth",
    "Split", "Squeeze", "Tile", "Transpose", "Trilu", "Unsqueeze", "GridSample",
})
"""Standard-domain operators a package model may use: each one's work and output size follow from its input
shapes, its attributes and constant inputs. Left out on purpose: control flow (Loop, Scan, If), sequences
and optionals, operators whose output size comes from tensor values (NonZero, Unique, Compress, TopK,
NonMaxSuppression), Einsum (cost is the product of every index), random, string and recurrent operators."""

FOLD_MAX_ELEMENTS = 4096
"""Largest tensor the shape pass evaluates as a constant (shape arithmetic, pads, scales, small weights)."""


@dataclass(frozen=True)
class GraphLimits:
    """Static bounds on one package model; defaults fit any sensible avatar with room to spare."""

    max_nodes: int = 5000
    """Most nodes in the graph."""
    max_tensor_bytes: int = 256 * MiB
    """Largest single tensor (intermediate, input or output); raised to twice the largest interface tensor
    for a manifest that declares a bigger feature map."""
    max_total_bytes: int = 1024 * MiB
    """Sum of every tensor the graph computes (a ceiling on its working memory); raised to eight times the
    largest interface tensor for a bigger manifest."""
    max_macs: int = 20 * 10**9
    """Most multiply-adds (or elementwise operations) one run may take, as estimated from the shapes."""

    def __post_init__(self) -> None:
        """Every limit must be positive."""
        for name in ("max_nodes", "max_tensor_bytes", "max_total_bytes", "max_macs"):
            if getattr(self, name) < 1:
                raise ValueError(f"GraphLimits.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class GraphCost:
    """What the shape pass found for a model that is within its limits."""

    nodes: int
    """Nodes in the graph."""
    largest_tensor_bytes: int
    """Bytes of the largest tensor."""
    largest_tensor: str
    """Name of that tensor."""
    total_bytes: int
    """Sum of the bytes of every tensor the graph computes, inputs included."""
    macs: int
    """Estimated multiply-adds of one run."""
    output_shapes: dict[str, tuple[int, ...]]
    """Derived static shape of every graph output."""


def check_graph_bounds(model: onnx.ModelProto, input_shapes: Mapping[str, tuple[int, ...]], source: str,
                       member: str, limits: GraphLimits | None = None) -> GraphCost:
    """Bound `model` (already through codecav.assets.onnx_checks.parse_model) run on inputs of
    `input_shapes`: allowlisted operators only, every tensor's shape derived statically, sizes and work
    within `limits`; UnboundedModelError (one line, with a reason key) otherwise."""
    return _ShapePass(model, source, member, limits or GraphLimits()).run(input_shapes)


def interface_shapes(model: onnx.ModelProto,
                     fixed: Mapping[str, Sequence[int]] | None = None) -> dict[str, tuple[int, ...]]:
    """Concrete input shapes for the shape pass: `fixed[name]` where given, else the declared dims with every
    symbolic or unknown one taken as 1 (a batch of one, as the runtime feeds encoders)."""
    initializers = {i.name for i in model.graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        if fixed and value.name in fixed:
            shapes[value.name] = tuple(fixed[value.name])
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(int(d.dim_value) if d.HasField("dim_value") else 1 for d in dims)
    return shapes


def itemsize(elem_type: int) -> int | None:
    """Bytes per element of an ONNX tensor element type; None for strings and unknown types."""
    if elem_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return None
    try:
        return int(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).itemsize)
    except (KeyError, TypeError, ValueError):
        return None


_FIX = "re-export the avatar"
_POOL_OPS = ("AveragePool", "MaxPool", "LpPool")


class _ShapePass:
    """One forward pass over the (topologically sorted) nodes with onnx's per-node shape inference, fed the
    values of small constant tensors so that data-sized outputs (Reshape, ConstantOfShape, Pad, Resize,
    Expand, Tile, Range) get static shapes."""

    def __init__(self, model: onnx.ModelProto, source: str, member: str, limits: GraphLimits) -> None:
        self.model = model
        self.source = source
        self.member = member
        self.limits = limits
        self.opsets = {o.domain or "": int(o.version) for o in model.opset_import}
        self.types: dict[str, onnx.TypeProto] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.values: dict[str, np.ndarray] = {}
        self.total_bytes = 0
        self.largest = (0, "")
        self.tensor_limit = limits.max_tensor_bytes
        self.total_limit = limits.max_total_bytes

    def refuse(self, problem: str, fix: str, reason: str) -> UnboundedModelError:
        return UnboundedModelError(self.source, self.member, problem, fix, reason=reason)

    def run(self, input_shapes: Mapping[str, tuple[int, ...]]) -> GraphCost:
        graph = self.model.graph
        if len(graph.node) > self.limits.max_nodes:
            raise self.refuse(f"has {len(graph.node)} nodes, over the limit of {self.limits.max_nodes}",
                              f"{_FIX} with a smaller graph", "model_too_many_nodes")
        if self.model.functions:
            raise self.refuse(f"defines {len(self.model.functions)} local function(s)",
                              f"{_FIX} with standard operators only (inline the functions)", "model_op_not_allowed")
        for node in graph.node:  # refuse by operator before any inference runs
            self._check_op(node)
        initializers = {i.name for i in graph.initializer}
        io_bytes = 0
        for value in graph.input:
            if value.name in initializers:
                continue
            elem = value.type.tensor_type.elem_type
            shape = tuple(input_shapes.get(value.name, ()))
            io_bytes = max(io_bytes, math.prod(shape) * (itemsize(elem) or 1))
            self._set(value.name, elem, shape)
        for out in graph.output:
            dims = out.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                size = itemsize(out.type.tensor_type.elem_type) or 1
                io_bytes = max(io_bytes, math.prod(int(d.dim_value) for d in dims) * size)
        self.tensor_limit = max(self.limits.max_tensor_bytes, 2 * io_bytes)
        self.total_limit = max(self.limits.max_total_bytes, 8 * io_bytes)
        for init in graph.initializer:
            shape = tuple(int(d) for d in init.dims)
            self._set(init.name, init.data_type, shape)
            if math.prod(shape) <= FOLD_MAX_ELEMENTS:
                self.values[init.name] = numpy_helper.to_array(init)
        macs = 0
        for index, node in enumerate(graph.node):
            self._infer(index, node)
            macs += self._macs(node)
            if macs > self.limits.max_macs:
                raise self.refuse(f"needs about {macs / 1e9:.1f} G multiply-adds per run (at node "
                                  f"{self._name(index, node)}), over the limit of {self.limits.max_macs / 1e9:.1f} G",
                                  f"{_FIX} with a smaller decoder", "model_compute_too_large")
            self._fold(node)
        outputs = {}
        for out in graph.output:
            if out.name not in self.shapes:
                raise self.refuse(f"output {out.name} is computed by no node", _FIX, "model_shape_unbounded")
            outputs[out.name] = self.shapes[out.name]
        size, name = self.largest
        return GraphCost(len(graph.node), size, name, self.total_bytes, macs, outputs)

    def _check_op(self, node: onnx.NodeProto) -> None:
        if node.domain not in ("", "ai.onnx") or node.op_type not in ALLOWED_OPS:
            what = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
            kind = " (control flow: its work is not bounded by the input shapes)" if node.op_type in (
                "Loop", "Scan", "If") else ""
            raise self.refuse(f"uses operator {what}{kind}, which package models may not use",
                              f"{_FIX} with the operators listed in docs/avatar-format.md", "model_op_not_allowed")
        for attr in node.attribute:
            if attr.HasField("g") or len(attr.graphs):
                raise self.refuse(f"node {node.name or node.op_type} holds a subgraph", f"{_FIX} without subgraphs",
                                  "model_op_not_allowed")

    @staticmethod
    def _name(index: int, node: onnx.NodeProto) -> str:
        return f"{node.name or '#' + str(index)} ({node.op_type})"

    def _set(self, name: str, elem: int, shape: tuple[int, ...]) -> None:
        size = itemsize(elem)
        if size is None:
            raise self.refuse(f"tensor {name} has element type {elem} (strings or unknown)",
                              f"{_FIX} with numeric tensors only", "model_shape_unbounded")
        if any(d < 0 for d in shape):
            raise self.refuse(f"tensor {name} has a negative dimension {list(shape)}", _FIX, "model_shape_unbounded")
        nbytes = math.prod(shape) * size
        if nbytes > self.tensor_limit:
            raise self.refuse(f"tensor {name} {list(shape)} would take {_gib(nbytes)}, over the limit of "
                              f"{_gib(self.tensor_limit)} per tensor", f"{_FIX} with smaller intermediate tensors",
                              "model_tensor_too_large")
        self.total_bytes += nbytes
        if self.total_bytes > self.total_limit:
            raise self.refuse(f"tensors up to {name} take {_gib(self.total_bytes)} in all, over the limit of "
                              f"{_gib(self.total_limit)}", f"{_FIX} with a smaller decoder", "model_memory_too_large")
        if nbytes > self.largest[0]:
            self.largest = (nbytes, name)
        self.types[name] = onnx.helper.make_tensor_type_proto(elem, list(shape))
        self.shapes[name] = shape

    def _infer(self, index: int, node: onnx.NodeProto) -> None:
        label = self._name(index, node)
        try:
            schema = onnx.defs.get_schema(node.op_type, self.opsets.get(node.domain or "", 1), node.domain or "")
            input_types = {n: self.types[n] for n in node.input if n}
            input_data = {n: numpy_helper.from_array(self.values[n], n) for n in node.input if n in self.values}
            inferred = onnx.shape_inference.infer_node_outputs(
                schema, node, input_types, input_data, opset_imports=list(self.model.opset_import),
                ir_version=self.model.ir_version)
        except KeyError as exc:
            raise self.refuse(f"node {label} reads {exc} before it is computed", _FIX, "model_shape_invalid") from None
        except Exception as exc:  # onnx.shape_inference.InferenceError, SchemaError
            first = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise self.refuse(f"node {label} fails shape inference ({first})", _FIX, "model_shape_invalid") from None
        for name in node.output:
            if not name:
                continue
            proto = inferred.get(name)
            tensor = proto.tensor_type if proto is not None and proto.HasField("tensor_type") else None
            dims = list(tensor.shape.dim) if tensor is not None and tensor.HasField("shape") else None
            if tensor is None or dims is None or not all(d.HasField("dim_value") for d in dims):
                raise self.refuse(f"output {name} of node {label} has a size that does not follow from the "
                                  "interface dimensions and constants", f"{_FIX} with static shapes (no sizes "
                                  "computed from tensor values)", "model_shape_unbounded")
            self._set(name, tensor.elem_type, tuple(int(d.dim_value) for d in dims))

    def _macs(self, node: onnx.NodeProto) -> int:
        """Multiply-adds of one node from the shapes (elementwise work for everything but the heavy ops)."""
        ins = [self.shapes.get(n, ()) for n in node.input if n]
        outs = [self.shapes[n] for n in node.output if n]
        out = math.prod(outs[0]) if outs else 0
        op = node.op_type
        if op in ("MatMul", "Gemm") and len(ins) >= 2 and ins[0]:
            trans_a = any(a.name == "transA" and a.i for a in node.attribute)
            k = ins[0][-2] if trans_a and len(ins[0]) >= 2 else ins[0][-1]
            return out * k
        if op == "Conv" and len(ins) >= 2:
            return out * math.prod(ins[1][1:])
        if op == "ConvTranspose" and len(ins) >= 2:
            return math.prod(ins[0]) * math.prod(ins[1][1:])
        if op in _POOL_OPS:
            kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [1])
            return out * math.prod(kernel)
        if op in ("Resize", "GridSample"):
            return out * 16
        return sum(math.prod(s) for s in ins) + sum(math.prod(s) for s in outs)

    def _fold(self, node: onnx.NodeProto) -> None:
        """Evaluate `node` when its inputs are known constants and its outputs small: the values later
        inference needs (a Reshape's shape, a Pad's pads, a ConstantOfShape's shape)."""
        outputs = [n for n in node.output if n]
        if not outputs or any(math.prod(self.shapes[n]) > FOLD_MAX_ELEMENTS for n in outputs):
            return
        if node.op_type == "Shape":  # needs the input's shape only, not its value
            dims = np.array(self.shapes[node.input[0]], np.int64)
            attrs = {a.name: a.i for a in node.attribute}
            self.values[outputs[0]] = dims[attrs.get("start", 0): attrs.get("end", len(dims))]
            return
        if node.op_type == "Size":
            self.values[outputs[0]] = np.array(math.prod(self.shapes[node.input[0]]), np.int64)
            return
        inputs = [n for n in node.input if n]
        if not all(n in self.values for n in inputs):
            return
        from onnx.reference import ReferenceEvaluator

        try:
            results = ReferenceEvaluator(node, opsets=self.opsets).run(None, {n: self.values[n] for n in inputs})
        except Exception:  # not foldable by the reference evaluator: later nodes needing it stay unbounded
            return
        for name, value in zip(node.output, results, strict=False):
            array = np.asarray(value)
            if name and tuple(array.shape) == self.shapes[name]:
                self.values[name] = array


def check_output_shapes(cost: GraphCost, expected: Mapping[str, Sequence[int]], source: str, member: str) -> None:
    """TensorShapeError unless the derived output shapes equal `expected` (the declared ones may lie)."""
    for name, want in expected.items():
        got = cost.output_shapes.get(name)
        if got is not None and tuple(got) != tuple(want):
            raise TensorShapeError(source, member, f"output {name} comes out {list(got)} by shape inference, "
                                   f"avatar.json says {list(want)}", f"{_FIX} so its outputs match avatar.json")


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / MiB:.1f} MiB"
