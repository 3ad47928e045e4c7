"""The per-pixel MLP on the CPU (float64), for building and verifying packages; the renderers' own NumPy
reference lives in codecav.decoders.pixel_mlp_reference (assets cannot import decoders)."""

from __future__ import annotations

import numpy as np

from codecav.assets.package import PixelMlp


def mlp_input(features: np.ndarray, view_dirs: np.ndarray, uv: np.ndarray, uv_frequencies: int) -> np.ndarray:
    """float64 [N, C + 3 + 4L]: features [N, C], view_dirs [N, 3], then for k < L: sin(2^k pi u),
    sin(2^k pi v), cos(2^k pi u), cos(2^k pi v) (the package input order)."""
    parts = [np.asarray(features, np.float64), np.asarray(view_dirs, np.float64)]
    uv64 = np.asarray(uv, np.float64)
    for k in range(uv_frequencies):
        a = (2.0**k) * np.pi * uv64
        parts += [np.sin(a), np.cos(a)]
    return np.concatenate(parts, axis=1)


def hidden_activations(mlp: PixelMlp, x: np.ndarray) -> np.ndarray:
    """float64 [N, last hidden width] (or the input when there are no hidden layers)."""
    for w, b in zip(mlp.weights[:-1], mlp.biases[:-1], strict=True):
        x = x @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)
        x = np.maximum(x, 0.0) if mlp.activation == "relu" else np.sin(x)
    return x


def mlp_logits(mlp: PixelMlp, x: np.ndarray) -> np.ndarray:
    """float64 [N, 3] RGB before the final sigmoid."""
    h = hidden_activations(mlp, x)
    out: np.ndarray = h @ np.asarray(mlp.weights[-1], np.float64).T + np.asarray(mlp.biases[-1], np.float64)
    return out


def mlp_rgb(mlp: PixelMlp, x: np.ndarray) -> np.ndarray:
    """float64 [N, 3] RGB in [0, 1] (sigmoid of mlp_logits)."""
    with np.errstate(over="ignore"):
        rgb: np.ndarray = 1.0 / (1.0 + np.exp(-mlp_logits(mlp, x)))
    return rgb
