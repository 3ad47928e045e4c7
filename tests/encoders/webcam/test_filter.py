"""One-Euro filter: first-order low-pass at rest, less lag when the signal moves fast, per-channel tuning."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.encoders.webcam.filter import OneEuroFilter, OneEuroParams, smoothing_factor


def test_first_value_passes_and_constant_stays() -> None:
    f = OneEuroFilter(OneEuroParams(), 3)
    x = np.array([0.2, 0.5, 0.9])
    assert np.allclose(f(x, 0.0), x)
    for k in range(1, 20):
        assert np.allclose(f(x, k / 30), x)


def test_beta_zero_is_an_exponential_low_pass() -> None:
    """With beta = 0 the cutoff is fixed: y1 = alpha * x1 + (1 - alpha) * y0, alpha = 1 / (1 + tau / dt)."""
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0), 1)
    f(np.zeros(1), 0.0)
    alpha = 1.0 / (1.0 + (1.0 / (2 * np.pi)) / 0.1)
    assert float(smoothing_factor(1.0, 0.1)) == pytest.approx(alpha)
    y1 = f(np.ones(1), 0.1)
    assert y1[0] == pytest.approx(alpha)
    assert f(np.ones(1), 0.2)[0] == pytest.approx(alpha + (1 - alpha) * alpha)


def test_jitter_is_smoothed() -> None:
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.1), 1)
    noisy = 0.5 + 0.05 * rng.standard_normal(300)
    out = np.array([f(np.array([v]), k / 30)[0] for k, v in enumerate(noisy)])
    assert out[30:].std() < 0.35 * noisy[30:].std()


def test_speed_raises_the_cutoff() -> None:
    """A fast ramp lags far less with beta > 0 than with beta = 0 (the point of the One-Euro filter)."""
    t = np.arange(30) / 30
    ramp = 5.0 * t
    lag = {}
    for beta in (0.0, 5.0):
        f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=beta), 1)
        out = [f(np.array([v]), s)[0] for v, s in zip(ramp, t, strict=True)]
        lag[beta] = ramp[-1] - out[-1]
    assert lag[5.0] < 0.3 * lag[0.0]


def test_channels_have_their_own_parameters_and_reset() -> None:
    f = OneEuroFilter([OneEuroParams(min_cutoff=0.5, beta=0.0), OneEuroParams(min_cutoff=20.0, beta=0.0)], 2)
    f(np.zeros(2), 0.0)
    y = f(np.ones(2), 1 / 30)
    assert y[0] < 0.15 < 0.75 < y[1]
    f.reset()
    assert np.allclose(f(np.array([0.3, 0.7]), 2 / 30), [0.3, 0.7])


def test_repeated_timestamp_holds_and_bad_input_raises() -> None:
    f = OneEuroFilter(OneEuroParams(), 2)
    first = f(np.array([0.1, 0.2]), 1.0)
    assert np.allclose(f(np.array([0.9, 0.9]), 1.0), first)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        f(np.zeros(3), 2.0)
    with pytest.raises(ValueError, match="3 channels"):
        OneEuroFilter([OneEuroParams()], 3)
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuroParams(min_cutoff=0.0)
