"""JitterBuffer and interpolation, driven by an in-memory transport with loss and jitter patterns (fake time)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import pytest

from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.net.interpolate import decay_weight, lerp_gaze, slerp
from codecav.net.jitter_buffer import JitterBuffer, JitterConfig, PlayoutSample, PlayoutState

DIM = 8
FRAME_US = 33_333
RENDER_US = 11_111  # a 90 Hz display


def yaw_quat(angle: float) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a rotation by `angle` about +y."""
    return np.array([0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2)], np.float32)


def frame_at(seq: int, flags: FrameFlags = FrameFlags.NONE) -> LatentFrame:
    """Frame `seq`, captured at seq * FRAME_US: a code growing linearly with time, a yaw of 0.01 rad per frame."""
    t = seq * FRAME_US
    code = np.full(DIM, t / 1e6, np.float32)
    pose = HeadPose(np.array([t / 1e6, 0, 0], np.float32), yaw_quat(0.01 * seq))
    gaze = Gaze(np.array([0, 0, 1], np.float32), np.array([0, 0, 1], np.float32))
    return LatentFrame(seq, t, code, pose, gaze, flags)


def simulate(
    frames: int,
    arrival: Callable[[int], float | None],
    buffer: JitterBuffer | None = None,
    flags: Callable[[int], FrameFlags] = lambda s: FrameFlags.NONE,
    tail_us: int = 300_000,
) -> tuple[JitterBuffer, list[tuple[float, PlayoutSample]]]:
    """Send `frames` frames; `arrival(seq)` gives the arrival time (µs) or None for lost. Render at 90 Hz."""
    buf = buffer or JitterBuffer(DIM)
    arrivals = sorted((a, s) for s in range(frames) if (a := arrival(s)) is not None)
    out = []
    i = 0
    end = frames * FRAME_US + tail_us
    for render in range(0, end, RENDER_US):
        while i < len(arrivals) and arrivals[i][0] <= render:
            a, s = arrivals[i]
            buf.push(frame_at(s, flags(s)), s * FRAME_US, int(a))
            i += 1
        out.append((float(render), buf.sample(float(render))))
    return buf, out


def test_steady_stream_interpolates_exactly_after_start_up() -> None:
    buf, out = simulate(150, lambda s: s * FRAME_US + 20_000, tail_us=0)
    steady = [(r, smp) for r, smp in out if 1_000_000 < r < 4_500_000]
    assert all(smp.state is PlayoutState.INTERPOLATED for _, smp in steady)
    for _, smp in steady:  # the code is linear in time, so interpolation reproduces it exactly
        assert np.allclose(smp.code, smp.capture_time_us / 1e6, atol=1e-5)
        assert np.isclose(smp.head_pose.position[0], smp.capture_time_us / 1e6, atol=1e-5)
        yaw = 2 * math.atan2(float(smp.head_pose.orientation[1]), float(smp.head_pose.orientation[3]))
        assert yaw == pytest.approx(0.01 * smp.capture_time_us / FRAME_US, abs=1e-4)
    # transit 20 ms + one frame interval + 3 ms margin
    assert buf.playout_delay_us == pytest.approx(20_000 + FRAME_US + 3_000, abs=500)
    assert buf.stats.lost == 0 and buf.stats.late == 0 and buf.stats.longest_stall_us == 0.0
    assert buf.stats.first_sequence == 0 and buf.stats.samples["empty"] == 2  # before frame 0 arrived


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_20_percent_loss_and_30_ms_jitter_never_freeze_200_ms(seed: int) -> None:
    rng = random.Random(seed)
    lost = {s for s in range(900) if rng.random() < 0.2}
    jitter = {s: rng.uniform(0, 60_000) for s in range(900)}
    buf, out = simulate(900, lambda s: None if s in lost else s * FRAME_US + 5_000 + jitter[s])
    assert buf.stats.longest_freeze_us < 200_000
    assert buf.stats.lost == len(lost) + buf.stats.late
    assert buf.stats.late < 0.05 * 900
    # the delay covers the jitter: ~95% quantile of 5..65 ms transit plus a frame
    assert 60_000 < buf.playout_delay_us < 110_000
    interpolated = sum(1 for _, smp in out if smp.state is PlayoutState.INTERPOLATED)
    assert interpolated > 0.85 * len(out)  # the rest holds across runs of lost frames


def test_a_long_outage_holds_then_decays_towards_neutral_then_recovers() -> None:
    gap = range(60, 90)  # one second lost
    buf, out = simulate(150, lambda s: None if s in gap else s * FRAME_US + 10_000)
    states = [smp.state for _, smp in out]
    first_held = states.index(PlayoutState.HELD)
    first_decay = states.index(PlayoutState.DECAYING)
    assert first_held < first_decay
    decaying = [smp for r, smp in out if smp.state is PlayoutState.DECAYING and r < 95 * FRAME_US]
    norms = [float(np.abs(smp.code).max()) for smp in decaying]
    assert norms == sorted(norms, reverse=True) and norms[-1] < 0.2 * norms[0]
    assert states[-40] is PlayoutState.INTERPOLATED  # frames after the gap play again
    # the outage is a stall of about a second (the gap, less the interpolation into it)
    assert 0.8e6 < buf.stats.longest_stall_us < 1.2e6


def test_the_delay_rises_quickly_when_transit_grows_and_falls_slowly() -> None:
    def arrival(s: int) -> float:
        return s * FRAME_US + (10_000 if s < 60 else 80_000)

    buf, out = simulate(120, arrival)
    delays = {round(r): smp.playout_delay_us for r, smp in out}
    at_switch = 60 * FRAME_US + 80_000
    later = min(r for r in delays if r > at_switch + 300_000)
    assert delays[later] > 80_000 + FRAME_US  # caught up within 0.3 s of render time
    buf2, out2 = simulate(300, lambda s: s * FRAME_US + (80_000 if s < 60 else 10_000))
    d = [smp.playout_delay_us for r, smp in out2 if r > 3 * 1e6]
    assert d[0] - d[-1] < 0.02 * (len(d) * RENDER_US) + 1  # falls at most 2% of elapsed render time


def test_duplicates_and_late_frames_are_counted_not_played() -> None:
    buf = JitterBuffer(DIM, JitterConfig(min_delay_ms=10, max_delay_ms=10))
    assert buf.push(frame_at(0), 0, 5_000)
    assert buf.push(frame_at(1), FRAME_US, FRAME_US + 5_000)
    assert not buf.push(frame_at(1), FRAME_US, FRAME_US + 6_000)
    buf.sample(200_000)  # plays past frame 2's capture time
    assert not buf.push(frame_at(2), 2 * FRAME_US, 210_000)
    assert (buf.stats.duplicates, buf.stats.late, buf.stats.received) == (1, 1, 2)


def test_tracking_lost_decays_without_holding() -> None:
    buf, out = simulate(90, lambda s: s * FRAME_US + 10_000,
                        flags=lambda s: FrameFlags.TRACKING_LOST if s >= 45 else FrameFlags.NONE)
    late = [smp for r, smp in out if r > 45 * FRAME_US + 200_000 and smp.sequence >= 50 and smp.sequence < 85]
    assert late and all(smp.state is PlayoutState.DECAYING for smp in late)
    assert float(np.abs(late[-1].code).max()) < float(np.abs(late[0].code).max())


def test_an_external_floor_raises_the_delay_for_lip_sync() -> None:
    buf = JitterBuffer(DIM)
    buf.floor_us = 110_000.0  # what the voice path needs
    buf2, out = simulate(90, lambda s: s * FRAME_US + 5_000, buffer=buf)
    assert buf2.playout_delay_us == pytest.approx(110_000)
    assert out[-60][1].state is PlayoutState.INTERPOLATED


def test_empty_buffer_gives_the_neutral_code() -> None:
    neutral = np.linspace(-1, 1, DIM).astype(np.float32)
    smp = JitterBuffer(DIM, neutral_code=neutral).sample(1_000)
    assert smp.state is PlayoutState.EMPTY and np.array_equal(smp.code, neutral)
    with pytest.raises(ValueError, match="neutral code"):
        JitterBuffer(DIM, neutral_code=np.zeros(3, np.float32))


def test_slerp_takes_the_short_arc_and_stays_unit() -> None:
    half = slerp(yaw_quat(0.0), yaw_quat(math.pi / 2), 0.5)
    assert np.allclose(half, yaw_quat(math.pi / 4), atol=1e-6)
    flipped = slerp(yaw_quat(0.0), -yaw_quat(math.pi / 2), 0.5)  # same rotation, other sign
    assert np.allclose(np.abs(flipped), np.abs(yaw_quat(math.pi / 4)), atol=1e-6)
    tiny = slerp(yaw_quat(0.0), yaw_quat(1e-5), 0.3)
    assert np.linalg.norm(tiny) == pytest.approx(1.0, abs=1e-6)


def test_gaze_and_decay_helpers() -> None:
    a = Gaze(np.array([1, 0, 0], np.float32), np.array([1, 0, 0], np.float32))
    b = Gaze(np.array([0, 0, 1], np.float32), np.array([0, 0, 1], np.float32))
    mid = lerp_gaze(a, b, 0.5)
    assert mid is not None and np.allclose(mid.left, np.array([1, 0, 1]) / math.sqrt(2), atol=1e-6)
    assert lerp_gaze(None, b, 0.2) is b and lerp_gaze(a, None, 0.2) is a
    assert decay_weight(50, 100, 300) == 1.0
    assert decay_weight(400, 100, 300) == pytest.approx(math.exp(-1))


def simulate_at(render_us: int, frames: int, transit_us: float,
                config: JitterConfig | None = None) -> tuple[JitterBuffer, list[PlayoutSample]]:
    """A steady stream with a fixed transit, sampled every `render_us`."""
    buf = JitterBuffer(DIM, config)
    out, sent = [], 0
    for render in range(0, frames * FRAME_US, render_us):
        while sent < frames and sent * FRAME_US + transit_us <= render:
            buf.push(frame_at(sent), sent * FRAME_US, int(sent * FRAME_US + transit_us))
            sent += 1
        out.append(buf.sample(float(render)))
    return buf, out


def test_a_renderer_slower_than_the_frames_gets_no_lookahead() -> None:
    """At 20 renders/s of 30 frames/s each render shows the newest frame due: the delay is the transit and the
    margin, with no frame interval of look-ahead, and nothing counts as a stall or a freeze."""
    buf, out = simulate_at(50_000, 150, 20_000)
    assert buf.lookahead_frames() == 0.0
    assert buf.playout_delay_us == pytest.approx(20_000 + 3_000, abs=500)
    steady = out[40:]
    assert {smp.state for smp in steady} <= {PlayoutState.CURRENT, PlayoutState.INTERPOLATED}
    assert PlayoutState.CURRENT in {smp.state for smp in steady}
    for smp in steady:  # the newest frame due at the playout point, never a later one
        assert smp.sequence * FRAME_US <= smp.capture_time_us < (smp.sequence + 1) * FRAME_US + 1
    assert buf.stats.longest_stall_us == 0.0 and buf.stats.longest_freeze_us == 0.0 and buf.stats.late == 0


def test_a_renderer_faster_than_the_frames_keeps_one_frame_of_lookahead() -> None:
    buf, out = simulate_at(RENDER_US, 150, 20_000)
    assert buf.lookahead_frames() == 1.0
    assert buf.playout_delay_us == pytest.approx(20_000 + FRAME_US + 3_000, abs=500)
    assert all(smp.state is PlayoutState.INTERPOLATED for smp in out[200:])


def test_a_fixed_lookahead_overrides_auto() -> None:
    buf, out = simulate_at(50_000, 150, 20_000, JitterConfig(lookahead_frames=1.0))
    assert buf.lookahead_frames() == 1.0
    assert buf.playout_delay_us == pytest.approx(20_000 + FRAME_US + 3_000, abs=500)
    assert all(smp.state is PlayoutState.INTERPOLATED for smp in out[40:])
