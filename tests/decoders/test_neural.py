"""OnnxNeuralDecoder on a tiny hand-built ONNX graph with the decoder interface."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codecav.decoders import get_renderer
from codecav.decoders.neural import DecoderModelError, OnnxNeuralDecoder

D, V, C, H, W = 5, 7, 8, 3, 4


def tiny_decoder(
    rng: np.random.Generator, outputs: tuple[str, str] = ("geometry", "features")
) -> tuple[bytes, dict[str, np.ndarray]]:
    """geometry = reshape(latent @ Wg) [1, V, 3]; features = reshape([latent, view_dir] @ Wf) [1, C, H, W]."""
    wg = rng.standard_normal((D, V * 3)).astype(np.float32)
    wf = rng.standard_normal((D + 3, C * H * W)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["latent", "wg"], ["g_flat"]),
        helper.make_node("Reshape", ["g_flat", "g_shape"], [outputs[0]]),
        helper.make_node("Concat", ["latent", "view_dir"], ["lv"], axis=1),
        helper.make_node("MatMul", ["lv", "wf"], ["f_flat"]),
        helper.make_node("Reshape", ["f_flat", "f_shape"], [outputs[1]]),
    ]
    inits = [
        numpy_helper.from_array(wg, "wg"),
        numpy_helper.from_array(wf, "wf"),
        numpy_helper.from_array(np.array([1, V, 3], np.int64), "g_shape"),
        numpy_helper.from_array(np.array([1, C, H, W], np.int64), "f_shape"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_decoder",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, [1, D]),
         helper.make_tensor_value_info("view_dir", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, [1, V, 3]),
         helper.make_tensor_value_info(outputs[1], TensorProto.FLOAT, [1, C, H, W])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), {"wg": wg, "wf": wf}


@pytest.mark.parametrize("threads", [1, 2])
def test_decode_matches_numpy_and_is_hwc_contiguous(threads: int) -> None:
    rng = np.random.default_rng(0)
    model, w = tiny_decoder(rng)
    decoder = OnnxNeuralDecoder(model, threads=threads)
    latent = rng.standard_normal(D).astype(np.float32)
    view_dir = np.array([0.0, 0.6, 0.8], np.float32)
    frame = decoder.decode(latent, view_dir)
    np.testing.assert_allclose(frame.geometry, (latent @ w["wg"]).reshape(V, 3), rtol=1e-5, atol=1e-5)
    nchw = (np.concatenate([latent, view_dir]) @ w["wf"]).reshape(C, H, W)
    np.testing.assert_allclose(frame.features, nchw.transpose(1, 2, 0), rtol=1e-5, atol=1e-5)
    assert frame.features.shape == (H, W, C) and frame.features.flags.c_contiguous
    assert frame.geometry.dtype == np.float32 and frame.features.dtype == np.float32


def test_missing_interface_names_and_bad_bytes() -> None:
    model, _ = tiny_decoder(np.random.default_rng(0), outputs=("geometry", "feats"))
    with pytest.raises(DecoderModelError, match="features"):
        OnnxNeuralDecoder(model)
    with pytest.raises(DecoderModelError, match="cannot load"):
        OnnxNeuralDecoder(b"not an onnx model")
    with pytest.raises(ValueError, match="threads"):
        OnnxNeuralDecoder(model, threads=0)


def test_get_renderer_names_the_missing_key() -> None:
    assert get_renderer("pica").__name__ == "PicaRenderer"
    assert get_renderer("full_texture").__name__ == "FullTextureRenderer"
    with pytest.raises(ValueError, match=r"'nerf'.*pica, full_texture"):
        get_renderer("nerf")
