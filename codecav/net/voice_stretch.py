"""Time-stretching primitives of the voice playout (pure numpy): find where a cut or repeat is inaudible, make it.

`codecav.net.voice_playout` removes or repeats a few ms to move its delay towards the target: anywhere inside a
quiet stretch, or exactly one pitch period in voiced sound, with a raised-cosine crossfade across the join.
"""

from __future__ import annotations

import numpy as np


def best_period(x: np.ndarray, window: int, min_lag: int, max_lag: int, min_corr: float) -> int | None:
    """The lag in [min_lag, max_lag] where x[:window] best matches x[lag:lag+window], if >= min_corr."""
    head = x[:window]
    head_energy = float(head @ head)
    if head_energy <= 0.0:
        return None
    candidates = np.lib.stride_tricks.sliding_window_view(x[min_lag: max_lag + window], window)
    energies = np.einsum("ij,ij->i", candidates, candidates)
    corr = (candidates @ head) / np.sqrt(np.maximum(energies * head_energy, 1e-30))
    best = int(np.argmax(corr))
    return min_lag + best if corr[best] >= min_corr else None


def loudest_block_rms(x: np.ndarray, block: int) -> float:
    """The highest RMS over consecutive `block`-sample blocks of x (a short onset is not averaged away)."""
    padded = np.zeros(-(-len(x) // block) * block, np.float64)
    padded[: len(x)] = x
    return float(np.sqrt(np.mean(np.square(padded.reshape(-1, block)), axis=1)).max())


def crossfade_weights(length: int) -> np.ndarray:
    """Raised-cosine weights rising from ~0 to ~1 over `length` samples."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)).astype(np.float32)


def remove_span(x: np.ndarray, start: int, length: int, fade: int) -> np.ndarray:
    """x without `length` samples at `start`, crossfading x[start:] into x[start+length:] over `fade` samples."""
    w = crossfade_weights(fade)
    joined = x[start: start + fade] * (1 - w) + x[start + length: start + length + fade] * w
    return np.concatenate([x[:start], joined, x[start + length + fade:]]).astype(np.float32)


def repeat_span(x: np.ndarray, start: int, length: int, fade: int) -> np.ndarray:
    """x with x[start:start+length] played twice, crossfading back from x[start+length:] to x[start:]."""
    w = crossfade_weights(fade)
    joined = x[start + length: start + length + fade] * (1 - w) + x[start: start + fade] * w
    return np.concatenate([x[: start + length], joined, x[start + fade:]]).astype(np.float32)
