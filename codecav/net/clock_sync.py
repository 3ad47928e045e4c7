"""NTP-style clock offset and delay estimation from ping/pong timestamps (pure, no I/O).

For one exchange, t0 (ping sent) and t3 (pong received) are on the local clock, t1 (ping received) and
t2 (pong sent) on the remote clock:

    offset = ((t1 - t0) + (t2 - t3)) / 2      remote clock minus local clock
    delay  = (t3 - t0) - (t2 - t1)            round-trip time on the network

Asymmetry between the two directions biases the offset by half the difference of the one-way delays, so the
true offset is within offset +- delay / 2. Queueing only adds delay, so the sample with the smallest delay in a
recent window (min-delay filter, as NTP's clock filter) has the least possible bias.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from codecav.net.wire.control import Pong


@dataclass(frozen=True)
class ClockSample:
    """One completed ping/pong exchange."""

    t0_us: int
    """Ping sent, local clock (µs)."""
    t1_us: int
    """Ping received, remote clock (µs)."""
    t2_us: int
    """Pong sent, remote clock (µs)."""
    t3_us: int
    """Pong received, local clock (µs)."""

    @property
    def offset_us(self) -> float:
        """Remote clock minus local clock, as this exchange sees it."""
        return ((self.t1_us - self.t0_us) + (self.t2_us - self.t3_us)) / 2.0

    @property
    def delay_us(self) -> int:
        """Round-trip network delay, the remote's processing time removed."""
        return (self.t3_us - self.t0_us) - (self.t2_us - self.t1_us)


@dataclass(frozen=True)
class ClockEstimate:
    """Best current estimate of the remote clock relative to the local one."""

    offset_us: float
    """Remote clock minus local clock (µs)."""
    delay_us: float
    """Round-trip delay of the sample the offset comes from (µs)."""
    error_bound_us: float
    """The true offset lies within offset_us +- this (half the delay), whatever the asymmetry."""
    samples: int
    """Samples in the window the estimate was chosen from."""

    def remote_to_local_us(self, remote_us: float) -> float:
        """A remote timestamp (e.g. a LatentFrame's capture time) on the local clock."""
        return remote_us - self.offset_us

    def local_to_remote_us(self, local_us: float) -> float:
        """A local timestamp on the remote clock."""
        return local_us + self.offset_us


class ClockSyncEstimator:
    """Keeps the last `window` exchanges and estimates the offset from the one with the smallest delay."""

    def __init__(self, window: int = 32) -> None:
        if window < 1:
            raise ValueError(f"clock sync window must be at least 1, got {window}")
        self._samples: deque[ClockSample] = deque(maxlen=window)
        self.rejected = 0
        """Samples refused as impossible (time running backwards, negative delay)."""

    def add(self, sample: ClockSample) -> bool:
        """Add one exchange; False (and counted in `rejected`) if its timestamps are impossible."""
        if sample.t3_us < sample.t0_us or sample.t2_us < sample.t1_us or sample.delay_us < 0:
            self.rejected += 1
            return False
        self._samples.append(sample)
        return True

    def add_pong(self, pong: Pong, t3_us: int) -> bool:
        """Add the exchange completed by `pong`, received at local time `t3_us`."""
        return self.add(ClockSample(pong.t0_us, pong.t1_us, pong.t2_us, t3_us))

    def estimate(self) -> ClockEstimate | None:
        """The min-delay estimate over the window (latest sample wins ties), or None before any sample."""
        if not self._samples:
            return None
        best = self._samples[0]
        for sample in self._samples:
            if sample.delay_us <= best.delay_us:
                best = sample
        return ClockEstimate(
            offset_us=best.offset_us,
            delay_us=float(best.delay_us),
            error_bound_us=best.delay_us / 2.0,
            samples=len(self._samples),
        )

    def reset(self) -> None:
        """Forget every sample (e.g. after the remote restarted its clock)."""
        self._samples.clear()
