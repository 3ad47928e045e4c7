"""FrameClock on fake time: pacing, late frames skip ahead, following an external schedule."""

from __future__ import annotations

import pytest

from codecav.clock import FakeClock, FrameClock

PERIOD = 10_000_000  # 10 ms


def test_frames_are_paced_at_the_period() -> None:
    fake = FakeClock(1_000)
    clock = FrameClock(PERIOD, fake)
    starts = []
    for _ in range(5):
        timing = clock.wait_frame()
        starts.append(timing.start_ns)
        fake.advance(2_000_000)  # 2 ms of work
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [PERIOD] * 4
    assert clock.late_frames == 0


def test_late_frame_skips_missed_slots_instead_of_bursting() -> None:
    fake = FakeClock(0)
    clock = FrameClock(PERIOD, fake)
    clock.wait_frame()
    fake.advance(35_000_000)  # a 35 ms hitch: 3.5 periods
    late = clock.wait_frame()
    assert late.late
    assert clock.late_frames == 1
    after = clock.wait_frame()
    # The next frame is due one period after the slot the late frame took, not immediately.
    assert after.start_ns - late.start_ns == pytest.approx(PERIOD, abs=PERIOD)
    assert not after.late
    assert after.target_ns == late.target_ns + PERIOD


def test_follow_uses_the_predicted_display_time() -> None:
    fake = FakeClock(0)
    clock = FrameClock(PERIOD, fake)
    clock.follow(predicted_display_ns=50_000_000, period_ns=50_000_000)
    timing = clock.wait_frame()
    assert timing.target_ns == 50_000_000 and fake.now_ns() == 50_000_000
    assert clock.period_ns == 50_000_000


def test_bad_period_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameClock(0)
