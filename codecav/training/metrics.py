"""Image quality metrics in NumPy: PSNR and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
K1 0.01, K2 0.03), both optionally restricted to a pixel mask."""

from __future__ import annotations

import numpy as np

SSIM_SIGMA = 1.5
"""Gaussian window standard deviation, pixels."""
SSIM_RADIUS = 5
"""Window half-width: 11 x 11 taps."""


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float = 255.0) -> float:
    """PSNR in dB of images [H, W, C] over the pixels where `mask` [H, W] is true (all when None)."""
    diff = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    values = diff[mask] if mask is not None else diff.reshape(-1, diff.shape[-1])
    mse = float(values.mean()) if values.size else 0.0
    return float("inf") if mse == 0.0 else 10.0 * np.log10(peak * peak / mse)


def _gaussian_taps() -> np.ndarray:
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    taps = np.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    out: np.ndarray = taps / taps.sum()
    return out


def gaussian_filter(image: np.ndarray) -> np.ndarray:
    """[H, W, ...] separable Gaussian filter with edge replication (float64)."""
    taps = _gaussian_taps()
    r = SSIM_RADIUS
    out = np.asarray(image, np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="edge")
        size = out.shape[axis]
        acc = np.zeros_like(out)
        for k, w in enumerate(taps):
            acc += w * np.take(padded, np.arange(k, k + size), axis=axis)
        out = acc
    return out


def ssim_map(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> np.ndarray:
    """float64 [H, W] SSIM per pixel of images [H, W, C], averaged over the channels."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = gaussian_filter(x), gaussian_filter(y)
    sxx = gaussian_filter(x * x) - mx * mx
    syy = gaussian_filter(y * y) - my * my
    sxy = gaussian_filter(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    out: np.ndarray = s.mean(axis=2) if s.ndim == 3 else s
    return out


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float = 255.0) -> float:
    """Mean SSIM over the pixels where `mask` is true (all when None)."""
    s = ssim_map(a, b, peak)
    return float(s[mask].mean() if mask is not None else s.mean())
