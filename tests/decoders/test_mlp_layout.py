"""Packing the per-pixel MLP for pixel_mlp.glsl, checked by running the packed block the GLSL way in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.assets.package import PixelMlp, run_pixel_mlp, uv_encoding
from codecav.assets.synthetic.head import random_mlp
from codecav.decoders.mlp_layout import MlpShape, gpu_input_order, mlp_shape, pack_mlp


def glsl_emulation(packed: np.ndarray, shape: MlpShape, x_gpu: np.ndarray) -> np.ndarray:
    """What MLP_LAYER_CODE computes over the packed vec4 block (per layers()), for one input vector."""
    x = x_gpu.reshape(-1, 4)
    layers = shape.layers()
    for index, layer in enumerate(layers):
        y = np.zeros((layer.out4, 4))
        for j in range(layer.out4):
            acc = packed[layer.base + 4 * layer.out4 * layer.in4 + j].astype(np.float64)
            for r in range(4):
                row = layer.base + (4 * j + r) * layer.in4
                acc[r] += sum(packed[row + i] @ x[i] for i in range(layer.in4))
            hidden = index < len(layers) - 1
            y[j] = (np.sin(acc) if shape.activation == "sine" else np.maximum(acc, 0)) if hidden else acc
        x = y
    result: np.ndarray = 1 / (1 + np.exp(-x[0, :3]))
    return result


def test_layer_code_reads_the_same_block_positions() -> None:
    shape = mlp_shape(random_mlp(np.random.default_rng(0), 8 + 3 + 8, (16, 5), "sine", 2), 8)
    code = shape.variables()["MLP_LAYER_CODE"]
    layers = shape.layers()
    assert [(la.in4, la.out4) for la in layers] == [(5, 4), (4, 2), (2, 1)]
    assert code.count("sin(") == 4 + 2 and "max(" not in code
    last = layers[-1]
    assert f"u_mlp[{last.base + 4 * last.out4 * last.in4}]" in code  # the last bias
    assert code.endswith("vec4 mlp_out = h2[0];")
    assert f"u_mlp[{shape.vec4s - 1}]" in code and f"u_mlp[{shape.vec4s}]" not in code


@pytest.mark.parametrize(("channels", "hidden", "activation", "frequencies"),
                         [(8, (16, 16), "relu", 2), (4, (13,), "sine", 0), (16, (8, 5, 7), "relu", 3)])
def test_packed_block_computes_the_reference_mlp(
    channels: int, hidden: tuple[int, ...], activation: str, frequencies: int
) -> None:
    rng = np.random.default_rng(1)
    mlp = random_mlp(rng, channels + 3 + 4 * frequencies, hidden, activation, frequencies)
    shape = mlp_shape(mlp, channels)
    packed = pack_mlp(mlp, shape)
    assert packed.shape == (shape.vec4s, 4)
    feats, uv = rng.standard_normal((1, channels)), rng.uniform(size=(1, 2))
    view = np.array([[0.3, -0.2, 0.93]])
    package_input = np.concatenate([feats, view, uv_encoding(uv, frequencies)], axis=1)[0]
    gpu_input = np.append(package_input, 0.0)[gpu_input_order(channels, frequencies)]
    got = glsl_emulation(packed, shape, gpu_input)
    np.testing.assert_allclose(got, run_pixel_mlp(mlp, feats, view, uv)[0], atol=1e-5)


def test_gpu_order_puts_one_frequency_per_vec4() -> None:
    order = gpu_input_order(4, 2)
    assert order.tolist() == [0, 1, 2, 3, 4, 5, 6, -1, 7, 8, 9, 10, 11, 12, 13, 14]


def test_shape_errors_say_what_is_wrong() -> None:
    rng = np.random.default_rng(0)
    mlp = random_mlp(rng, 8 + 3 + 8, (16,), "relu", 2)
    with pytest.raises(ValueError, match="multiple of 4"):
        mlp_shape(mlp, 6)
    with pytest.raises(ValueError, match=r"layer 0 .* expected \[out, 23\]"):
        mlp_shape(mlp, 12)
    bad_out = PixelMlp((np.zeros((4, 19), np.float32),), (np.zeros(4, np.float32),), "relu", 2)
    with pytest.raises(ValueError, match="3 outputs"):
        mlp_shape(bad_out, 8)
    with pytest.raises(ValueError, match="activation"):
        mlp_shape(PixelMlp(mlp.weights, mlp.biases, "tanh", 2), 8)
    huge = random_mlp(rng, 19, (128, 128), "relu", 2)
    with pytest.raises(ValueError, match="uniforms"):
        mlp_shape(huge, 8)


def test_shape_is_hashable_and_ignores_weight_values() -> None:
    a = random_mlp(np.random.default_rng(0), 19, (16, 16), "relu", 2)
    b = random_mlp(np.random.default_rng(1), 19, (16, 16), "relu", 2)
    assert mlp_shape(a, 8) == mlp_shape(b, 8)
    assert len({mlp_shape(a, 8), mlp_shape(b, 8)}) == 1
