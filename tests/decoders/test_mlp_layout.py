"""Packing the per-pixel MLP for pixel_mlp.glsl, checked by running the packed block the GLSL way in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.assets.package import PixelMlp
from codecav.decoders.mlp_layout import gpu_input_order, mlp_shape, pack_mlp
from codecav.decoders.pixel_mlp_reference import run_pixel_mlp, uv_encoding
from codecav.decoders.procedural import random_mlp


def glsl_emulation(packed: np.ndarray, defines: dict[str, object], x_gpu: np.ndarray) -> np.ndarray:
    """The loops of pixel_mlp.glsl over the packed vec4 block, for one input vector."""

    def ints(text: object) -> list[int]:
        return [int(t) for t in str(text)[len("int[](") : -1].split(",")]

    in4, out4 = ints(defines["MLP_IN4"]), ints(defines["MLP_OUT4"])
    x = np.zeros((int(str(defines["MLP_MAX4"])), 4))
    x[: len(x_gpu) // 4] = x_gpu.reshape(-1, 4)
    base = 0
    for layer, (n_in, n_out) in enumerate(zip(in4, out4, strict=True)):
        y = np.zeros_like(x)
        for j in range(n_out):
            acc = packed[base + 4 * n_out * n_in + j].astype(np.float64)
            for r in range(4):
                row = base + (4 * j + r) * n_in
                acc[r] += sum(packed[row + i] @ x[i] for i in range(n_in))
            last = layer == len(in4) - 1
            y[j] = acc if last else (np.sin(acc) if defines["MLP_SINE"] else np.maximum(acc, 0))
        x = y
        base += n_out * (4 * n_in + 1)
    result: np.ndarray = 1 / (1 + np.exp(-x[0, :3]))
    return result


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
    got = glsl_emulation(packed, shape.defines(), gpu_input)
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
