"""Packs a PixelMlp into the std140 vec4 block read by shaders/pixel_mlp.glsl, plus its shape defines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.assets.package import ACTIVATIONS, MLP_OUTPUT_CHANNELS, PixelMlp

MAX_UNIFORM_BLOCK_BYTES = 65536
"""GL_MAX_UNIFORM_BLOCK_SIZE guaranteed on llvmpipe and desktop GPUs; larger MLPs are refused."""


@dataclass(frozen=True)
class MlpShape:
    """What a compiled MLP program depends on; programs are cached per shape (weights are buffer data)."""

    feature_channels: int
    """C, a multiple of 4."""
    uv_frequencies: int
    """L."""
    layer_sizes: tuple[tuple[int, int], ...]
    """(in, out) of each linear layer in package order (the first `in` is C + 3 + 4L)."""
    activation: str
    """'relu' or 'sine'."""

    @property
    def vec4s(self) -> int:
        """Size of the packed weight block in vec4s."""
        last = self.layers()[-1]
        return last.base + last.out4 * (4 * last.in4 + 1)

    def layers(self) -> tuple[LayerLayout, ...]:
        """Where each layer sits in the weight block, in vec4 units."""
        result = []
        base = 0
        for index, (n_in, n_out) in enumerate(self.layer_sizes):
            if index == 0:
                n_in = self.feature_channels + 4 + 4 * self.uv_frequencies  # the GPU order adds one pad
            result.append(LayerLayout(base, _ceil4(n_in), _ceil4(n_out)))
            base += _ceil4(n_out) * (4 * _ceil4(n_in) + 1)
        return tuple(result)

    def defines(self) -> dict[str, object]:
        """Compile-time defines of pixel_mlp.glsl."""
        return {
            "FEATURE_LAYERS": self.feature_channels // 4,
            "UV_FREQUENCIES": self.uv_frequencies,
            "MLP_INPUT_VEC4S": self.layers()[0].in4,
            "MLP_VEC4S": self.vec4s,
        }

    def variables(self) -> dict[str, str]:
        """Template variables of pixel_mlp.glsl: MLP_LAYER_CODE, the layers as straight-line GLSL.

        Mesa does not fully unroll the equivalent nested loops over the block; straight-line code
        measured 2x faster on llvmpipe (benchmarks/RESULTS.md), and GPUs compile it no worse.
        """
        activation = "sin({})" if self.activation == "sine" else "max({}, 0.0)"
        lines = []
        source = "x"
        layers = self.layers()
        for index, layer in enumerate(layers):
            target = f"h{index}"
            lines.append(f"vec4 {target}[{layer.out4}];")
            for j in range(layer.out4):
                rows = []
                for r in range(4):
                    row = layer.base + (4 * j + r) * layer.in4
                    rows.append(" + ".join(f"dot(u_mlp[{row + i}], {source}[{i}])" for i in range(layer.in4)))
                bias = layer.base + 4 * layer.out4 * layer.in4 + j
                value = f"u_mlp[{bias}] + vec4({', '.join(rows)})"
                if index < len(layers) - 1:
                    value = activation.format(value)
                lines.append(f"{target}[{j}] = {value};")
            source = target
        lines.append(f"vec4 mlp_out = {source}[0];")
        return {"MLP_LAYER_CODE": "\n    ".join(lines)}


@dataclass(frozen=True)
class LayerLayout:
    """One linear layer in the packed block: rows (4 per output vec4, each `in4` vec4s), then biases."""

    base: int
    """Index of the layer's first vec4."""
    in4: int
    """Input width in vec4s (zero padded)."""
    out4: int
    """Output width in vec4s (zero padded)."""


def _ceil4(n: int) -> int:
    return (n + 3) // 4


def mlp_shape(mlp: PixelMlp, feature_channels: int) -> MlpShape:
    """Check `mlp` against the feature map and return its shape; ValueError saying what does not fit."""
    if feature_channels % 4 or not 4 <= feature_channels <= 16:
        raise ValueError(f"feature channels must be a multiple of 4 in 4..16, got {feature_channels}")
    if mlp.activation not in ACTIVATIONS:
        raise ValueError(f"pixel MLP activation {mlp.activation!r} is not one of {ACTIVATIONS}")
    if len(mlp.weights) != len(mlp.biases) or not mlp.weights:
        raise ValueError("pixel MLP needs one bias per weight matrix and at least one layer")
    expected_in = feature_channels + 3 + 4 * mlp.uv_frequencies
    sizes: list[tuple[int, int]] = []
    width = expected_in
    for index, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
            raise ValueError(
                f"pixel MLP layer {index} has weight {w.shape} and bias {b.shape}; expected [out, {width}] and [out]"
            )
        sizes.append((int(w.shape[1]), int(w.shape[0])))
        width = int(w.shape[0])
    if width != MLP_OUTPUT_CHANNELS:
        raise ValueError(f"pixel MLP must end with {MLP_OUTPUT_CHANNELS} outputs (RGB), it has {width}")
    shape = MlpShape(feature_channels, mlp.uv_frequencies, tuple(sizes), mlp.activation)
    if shape.vec4s * 16 > MAX_UNIFORM_BLOCK_BYTES:
        raise ValueError(
            f"pixel MLP needs {shape.vec4s * 16} bytes of uniforms, over the {MAX_UNIFORM_BLOCK_BYTES}-byte block "
            "limit; use fewer or narrower layers"
        )
    return shape


def gpu_input_order(feature_channels: int, uv_frequencies: int) -> np.ndarray:
    """int [C + 4 + 4L]: package input column feeding each GPU input slot, -1 for the zero pad after view_dir.

    Package order: features, view_dir (3), then per k: sin u, sin v, cos u, cos v.
    GPU order: features, (view_dir, 0), then per k: vec4(sin u, sin v, cos u, cos v) - the same per-k
    order, only shifted by the pad so each frequency is one vec4.
    """
    c = feature_channels
    order = list(range(c)) + [c, c + 1, c + 2, -1]
    order += [c + 3 + j for j in range(4 * uv_frequencies)]
    return np.array(order, dtype=np.int64)


def pack_mlp(mlp: PixelMlp, shape: MlpShape) -> np.ndarray:
    """float32 [MLP_VEC4S, 4]: the weight block for pixel_mlp.glsl (std140 vec4 array)."""
    blocks: list[np.ndarray] = []
    order = gpu_input_order(shape.feature_channels, shape.uv_frequencies)
    for index, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        w64 = np.asarray(w, dtype=np.float64)
        if index == 0:
            padded_cols = np.concatenate([w64, np.zeros((w64.shape[0], 1))], axis=1)
            w64 = padded_cols[:, order]  # -1 picks the zero column
        n_out, n_in = w64.shape
        in4, out4 = _ceil4(n_in), _ceil4(n_out)
        full = np.zeros((out4 * 4, in4 * 4))
        full[:n_out, :n_in] = w64
        rows = full.reshape(out4 * 4, in4, 4).reshape(-1, 4)  # row-major: output row, then input quad
        bias = np.zeros(out4 * 4)
        bias[:n_out] = b
        blocks += [rows, bias.reshape(out4, 4)]
    packed = np.concatenate(blocks).astype(np.float32)
    assert packed.shape[0] == shape.vec4s
    return np.ascontiguousarray(packed)
