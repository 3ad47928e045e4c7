"""The ONNX graph of a synthetic avatar's decoder (opset 17), built with onnx.helper from given weights:

    features = base + mask * Conv1x1(stages(Tanh(Reshape(Gemm(latent)) -> [N, c, 4, 4])))
               each stage: Resize x2 (linear) -> Conv 3x3 -> Tanh
    geometry = Reshape(Gemm(latent, Wg, rest) + Gemm(view_dir, Wv)) -> [N, V, 3]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
"""ONNX opset of synthetic decoders."""
IR_VERSION = 8
"""ONNX IR version matching opset 17, readable by older onnxruntime releases."""


@dataclass(frozen=True)
class DecoderWeights:
    """Every weight of the synthetic decoder graph."""

    latent_fc: np.ndarray
    """float32 [D, c * 16]: latent -> the 4x4 seed grid."""
    latent_fc_bias: np.ndarray
    """float32 [c * 16]."""
    stage_convs: tuple[tuple[np.ndarray, np.ndarray], ...]
    """(weight [c, c, 3, 3], bias [c]) of each x2 upsampling stage."""
    head: tuple[np.ndarray, np.ndarray]
    """(weight [C, c, 1, 1], bias [C]): hidden channels -> feature channels."""
    detail_mask: np.ndarray
    """float32 [1, 1, H, W]: fades the latent detail out at the UV seam and poles."""
    base_features: np.ndarray
    """float32 [1, C, H, W]: the feature map of the zero code."""
    geometry_latent: np.ndarray
    """float32 [D, 3V]: latent -> vertex offsets."""
    geometry_view: np.ndarray
    """float32 [3, 3V]: view direction -> vertex offsets."""
    rest: np.ndarray
    """float32 [3V]: rest positions, flattened."""


def decoder_model(weights: DecoderWeights, name: str) -> bytes:
    """Serialized ONNX model (latent [N, D], view_dir [N, 3]) -> (geometry [N, V, 3], features [N, C, H, W])."""
    dim = weights.latent_fc.shape[0]
    hidden = weights.latent_fc.shape[1] // 16
    channels, height, width = weights.base_features.shape[1:]
    vertices = weights.rest.shape[0] // 3
    inits: list[TensorProto] = []

    def const(array: np.ndarray, key: str) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), key))
        return key

    nodes = [
        helper.make_node("Gemm", ["latent", const(weights.latent_fc, "fc_w"), const(weights.latent_fc_bias, "fc_b")],
                         ["fc"], name="fc"),
        helper.make_node("Reshape", ["fc", const(np.array([-1, hidden, 4, 4], np.int64), "seed_shape")], ["seed"],
                         name="seed_reshape"),
        helper.make_node("Tanh", ["seed"], ["x0"], name="seed_tanh"),
    ]
    scales = const(np.array([1.0, 1.0, 2.0, 2.0], np.float32), "x2_scales")
    x = "x0"
    for i, (w, b) in enumerate(weights.stage_convs):
        nodes += [
            helper.make_node("Resize", [x, "", scales], [f"up{i}"], mode="linear", name=f"up{i}"),
            helper.make_node("Conv", [f"up{i}", const(w, f"conv{i}_w"), const(b, f"conv{i}_b")], [f"conv{i}"],
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=f"conv{i}"),
            helper.make_node("Tanh", [f"conv{i}"], [f"x{i + 1}"], name=f"tanh{i}"),
        ]
        x = f"x{i + 1}"
    nodes += [
        helper.make_node("Conv", [x, const(weights.head[0], "head_w"), const(weights.head[1], "head_b")], ["detail"],
                         kernel_shape=[1, 1], name="head"),
        helper.make_node("Mul", ["detail", const(weights.detail_mask, "detail_mask")], ["masked"], name="mask"),
        helper.make_node("Add", ["masked", const(weights.base_features, "base_features")], ["features"],
                         name="features"),
        helper.make_node("Gemm", ["latent", const(weights.geometry_latent, "geo_w"), const(weights.rest, "rest")],
                         ["geo_latent"], name="geo_latent"),
        helper.make_node("Gemm", ["view_dir", const(weights.geometry_view, "geo_view_w")], ["geo_view"],
                         name="geo_view"),
        helper.make_node("Add", ["geo_latent", "geo_view"], ["geo_flat"], name="geo_add"),
        helper.make_node("Reshape", ["geo_flat", const(np.array([-1, vertices, 3], np.int64), "geo_shape")],
                         ["geometry"], name="geometry"),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, ["batch", dim]),
         helper.make_tensor_value_info("view_dir", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("geometry", TensorProto.FLOAT, ["batch", vertices, 3]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", channels, height, width])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="codecav.assets.synthetic.avatar", ir_version=IR_VERSION)
    model.doc_string = "Random-weight synthetic avatar decoder (untrained, for plumbing tests)."
    onnx.checker.check_model(model)
    return model.SerializeToString()


def expression_encoder_model(weight: np.ndarray, bias: np.ndarray, name: str) -> bytes:
    """Serialized ONNX model "arkit" [N, 52] -> "code" [N, D] = arkit @ weight + bias (weight [52, D])."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["arkit", "enc_w", "enc_b"], ["code"], name="code")], name,
        [helper.make_tensor_value_info("arkit", TensorProto.FLOAT, ["batch", weight.shape[0]])],
        [helper.make_tensor_value_info("code", TensorProto.FLOAT, ["batch", weight.shape[1]])],
        [numpy_helper.from_array(weight.astype(np.float32), "enc_w"),
         numpy_helper.from_array(bias.astype(np.float32), "enc_b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="codecav.assets.synthetic.avatar", ir_version=IR_VERSION)
    model.doc_string = "Random linear ARKit-52 -> code map of a synthetic avatar (untrained, for plumbing tests)."
    onnx.checker.check_model(model)
    return model.SerializeToString()
