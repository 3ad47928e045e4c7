"""One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) over a vector of channels: a low-pass filter whose
cutoff rises with the signal's speed, so slow drift is smoothed hard and fast motion (a blink) lags little.
Pure NumPy, one independent filter per channel, driven by explicit timestamps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """Tuning of a One-Euro filter; the same for every channel it filters."""

    min_cutoff: float = 1.0
    """Cutoff frequency in Hz when the signal is still: lower smooths jitter more and lags more."""
    beta: float = 0.5
    """How fast the cutoff rises with speed (Hz per unit/s): higher follows fast motion with less lag."""
    d_cutoff: float = 1.0
    """Cutoff in Hz of the low-pass filter on the derivative that `beta` reads."""

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError(f"OneEuroParams needs min_cutoff > 0, d_cutoff > 0, beta >= 0, got {self}")


def smoothing_factor(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray:
    """The exponential smoothing factor alpha of a first-order low-pass at `cutoff_hz` sampled every `dt_s`."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau / dt_s))


class OneEuroFilter:
    """One-Euro filters over `channels` values, each channel with its own parameters (e.g. eyes vs face)."""

    def __init__(self, params: OneEuroParams | list[OneEuroParams], channels: int) -> None:
        """`params`: one OneEuroParams for all channels, or a list of one per channel."""
        plist = [params] * channels if isinstance(params, OneEuroParams) else list(params)
        if len(plist) != channels:
            raise ValueError(f"OneEuroFilter got {len(plist)} parameter sets for {channels} channels")
        self._min_cutoff = np.array([p.min_cutoff for p in plist], np.float64)
        self._beta = np.array([p.beta for p in plist], np.float64)
        self._d_cutoff = np.array([p.d_cutoff for p in plist], np.float64)
        self._x: np.ndarray | None = None
        self._dx = np.zeros(channels, np.float64)
        self._t_s = 0.0

    @property
    def channels(self) -> int:
        """Number of channels filtered."""
        return len(self._beta)

    def reset(self) -> None:
        """Forget the history: the next value passes through unchanged (use after tracking was lost)."""
        self._x = None
        self._dx[:] = 0.0

    def __call__(self, value: np.ndarray, t_s: float) -> np.ndarray:
        """Filter `value` [channels] observed at time `t_s` (seconds, increasing); float64 [channels].
        A repeated or earlier timestamp returns the previous output unchanged."""
        x = np.asarray(value, dtype=np.float64)
        if x.shape != (self.channels,):
            raise ValueError(f"OneEuroFilter expects shape ({self.channels},), got {x.shape}")
        if self._x is None:
            self._x, self._t_s = x.copy(), t_s
            return self._x.copy()
        dt = t_s - self._t_s
        if dt <= 0:
            return self._x.copy()
        a_d = smoothing_factor(self._d_cutoff, dt)
        self._dx = a_d * ((x - self._x) / dt) + (1 - a_d) * self._dx
        a = smoothing_factor(self._min_cutoff + self._beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t_s = t_s
        return self._x.copy()
