"""Clock sync: NTP arithmetic and the min-delay filter under skew and asymmetric jitter."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.net.clock_sync import ClockSample, ClockSyncEstimator
from codecav.net.wire.control import Pong


def test_ntp_arithmetic_symmetric_path() -> None:
    """Symmetric delays give the exact offset; delay excludes the remote's processing time."""
    # remote = local + 5000; 1000 us each way; 300 us processing
    s = ClockSample(t0_us=10_000, t1_us=16_000, t2_us=16_300, t3_us=12_300)
    assert s.offset_us == 5000.0
    assert s.delay_us == 2000


def test_empty_and_rejected() -> None:
    """No estimate before samples; impossible samples are refused and counted."""
    est = ClockSyncEstimator(window=4)
    assert est.estimate() is None
    assert not est.add(ClockSample(100, 0, 0, 50))  # pong before ping
    assert not est.add(ClockSample(0, 100, 50, 200))  # remote time backwards
    assert not est.add(ClockSample(0, 0, 500, 100))  # negative delay
    assert est.rejected == 3 and est.estimate() is None
    with pytest.raises(ValueError, match="window must be at least 1"):
        ClockSyncEstimator(window=0)


def _simulate(offset_us: float, skew_ppm: float, n: int, seed: int) -> tuple[ClockSyncEstimator, list[float], float]:
    """Ping every 200 ms; forward path heavily jittered (exp mean 15 ms), return path lightly (exp mean 1 ms)."""
    rng = np.random.default_rng(seed)
    est = ClockSyncEstimator(window=32)
    naive = []
    local = 1_000_000.0

    def remote(t: float) -> float:
        return t * (1 + skew_ppm * 1e-6) + offset_us

    for seq in range(n):
        local += 200_000
        fwd = 4_000 + rng.exponential(15_000)
        back = 4_000 + rng.exponential(1_000)
        proc = rng.uniform(50, 500)
        t0 = local
        t1 = remote(t0 + fwd)
        t2 = t1 + proc
        t3 = t0 + fwd + proc + back  # processing time on the remote clock ~ local within ppm
        pong = Pong(seq, round(t0), round(t1), round(t2))
        assert est.add_pong(pong, round(t3))
        naive.append(ClockSample(round(t0), round(t1), round(t2), round(t3)).offset_us)
    return est, naive, remote(local) - local


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_delay_filter_beats_asymmetric_jitter(seed: int) -> None:
    """With 8 ms asymmetric jitter on average, the estimate stays within its bound and ~1 ms of the truth."""
    est, naive, true_offset = _simulate(offset_us=-123_456_789.0, skew_ppm=0.0, n=64, seed=seed)
    e = est.estimate()
    assert e is not None and e.samples == 32
    err = abs(e.offset_us - true_offset)
    assert err <= e.error_bound_us
    assert err < 1_500
    assert abs(float(np.mean(naive[-32:])) - true_offset) > 4_000  # averaging would be biased by the asymmetry


def test_tracks_clock_skew() -> None:
    """A remote clock running 100 ppm fast is tracked: the estimate follows the recent window."""
    est, _, true_offset_now = _simulate(offset_us=50_000.0, skew_ppm=100.0, n=300, seed=5)
    e = est.estimate()
    assert e is not None
    # 32 samples x 200 ms = 6.4 s of window at 100 ppm drifts 640 us; jitter adds ~1 ms
    assert abs(e.offset_us - true_offset_now) < 2_500
    assert e.remote_to_local_us(e.local_to_remote_us(123.0)) == pytest.approx(123.0)


def test_latest_sample_wins_ties_and_reset() -> None:
    """Equal delays prefer the newest sample; reset forgets everything."""
    est = ClockSyncEstimator(window=8)
    est.add(ClockSample(0, 1000, 1000, 2000))
    est.add(ClockSample(10_000, 11_500, 11_500, 12_000))
    e = est.estimate()
    assert e is not None and e.offset_us == 500.0 and e.delay_us == 2000.0
    est.reset()
    assert est.estimate() is None
