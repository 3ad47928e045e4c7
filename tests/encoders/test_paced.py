"""The paced-source family on fake time: due times, time-outs, close, frame limits, capture stamps, and a late
joiner skipping ahead in a replayed clip. No test waits on the wall clock."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from codecav.assets.package import LatentLayout, LatentSegment
from codecav.clock import FakeClock
from codecav.encoders.animated_source import AnimatedCodeSource, code_animation
from codecav.encoders.base import LatentSource
from codecav.encoders.paced_source import PacedLatentSource, PacedSource
from codecav.encoders.synthetic_source import SyntheticLatentSource
from codecav.latent import FrameFlags, LatentFrame

START_NS = 5_000_000_000
PERIOD_NS = 100_000_000  # 10 fps
LAYOUT = LatentLayout((LatentSegment("face", 6), LatentSegment("eyes", 2)))


class ClipSource(LatentSource):
    """An offline source replaying `length` frames whose code is their clip index; counts opens and closes."""

    name = "clip"

    def __init__(self, length: int, log: list[str]) -> None:
        self._length, self._log, self._next = length, log, 0
        log.append("open")

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        if self._next >= self._length:
            return None
        self._next += 1
        return LatentFrame(self._next - 1, 0, np.full(2, self._next - 1, np.float32), flags=FrameFlags.SPEAKING)

    def close(self) -> None:
        self._log.append("close")


class CloseWhileWaiting(FakeClock):
    """A fake clock on which a close() arrives during the first wait."""

    def __init__(self, start_ns: int) -> None:
        super().__init__(start_ns)
        self.source: PacedSource | None = None

    def wait_ns(self, event: threading.Event, duration_ns: int) -> bool:
        assert self.source is not None
        self.advance(duration_ns // 2)
        self.source.close()
        return super().wait_ns(event, duration_ns)


def test_animated_frames_are_due_at_start_plus_k_periods_and_stamped_from_the_clock() -> None:
    clock = FakeClock(START_NS)
    codes = [np.zeros(4, np.float32), np.ones(4, np.float32)]
    source = AnimatedCodeSource(codes, fps=10.0, seconds_per_code=1.0, clock=clock)
    frames = [source.read() for _ in range(4)]
    assert [f.sequence for f in frames if f] == [0, 1, 2, 3]
    assert [f.capture_time_us for f in frames if f] == [5_000_000, 5_100_000, 5_200_000, 5_300_000]
    assert clock.now_ns() == START_NS + 3 * PERIOD_NS
    anim = code_animation(codes, 1.0)
    for frame in frames:
        assert frame is not None
        np.testing.assert_allclose(frame.code, anim(frame.capture_time_us / 1e6 - 5.0))


def test_a_read_not_due_within_its_timeout_waits_that_long_and_returns_none() -> None:
    clock = FakeClock(START_NS)
    source = AnimatedCodeSource([np.zeros(2, np.float32)], fps=10.0, clock=clock)
    assert source.read(timeout=0.0) is not None  # frame 0 is due at once
    assert source.read(timeout=0.0) is None and clock.now_ns() == START_NS
    assert source.read(timeout=0.03) is None and clock.now_ns() == START_NS + 30_000_000
    frame = source.read(timeout=0.07)  # due in 70 ms: within the time-out
    assert frame is not None and frame.sequence == 1 and frame.capture_time_us == 5_100_000


def test_a_late_read_delivers_at_once_stamped_when_taken() -> None:
    clock = FakeClock(START_NS)
    source = SyntheticLatentSource(LAYOUT, fps=10.0, clock=clock)
    assert source.read() is not None
    clock.advance(350_000_000)  # the reader fell 3.5 periods behind
    late = source.read(timeout=0.0)
    assert late is not None and late.sequence == 1 and late.capture_time_us == 5_350_000
    assert clock.now_ns() == START_NS + 350_000_000  # no wait
    nxt = source.read()
    assert nxt is not None and nxt.sequence == 2 and clock.now_ns() == START_NS + 350_000_000


def test_frame_limit_and_close_end_the_stream() -> None:
    clock = FakeClock(START_NS)
    source = SyntheticLatentSource(LAYOUT, fps=10.0, frames=2, clock=clock)
    assert [f.sequence for f in (source.read(), source.read()) if f] == [0, 1]
    assert source.read() is None and source.read(timeout=1.0) is None
    assert clock.now_ns() == START_NS + PERIOD_NS  # past the limit nothing waits
    other = AnimatedCodeSource([np.zeros(2, np.float32)], fps=10.0, clock=clock)
    other.close()
    assert other.read() is None and other.read(timeout=1.0) is None
    assert clock.now_ns() == START_NS + PERIOD_NS  # closed: nothing waits


def test_close_during_the_wait_returns_none_without_counting_the_frame() -> None:
    clock = CloseWhileWaiting(START_NS)
    source = SyntheticLatentSource(LAYOUT, fps=10.0, clock=clock)
    clock.source = source
    assert source.read() is not None  # due at once: no wait
    assert source.read() is None and source.sequence == 1
    assert clock.now_ns() == START_NS + PERIOD_NS // 2  # returned when closed, not at the due time


def test_synthetic_frames_are_frame_at_of_their_sequence_and_stamp() -> None:
    clock = FakeClock(START_NS)
    source = SyntheticLatentSource(LAYOUT, fps=10.0, seed=4, clock=clock)
    frames = [source.read() for _ in range(3)]
    twin = SyntheticLatentSource(LAYOUT, fps=10.0, seed=4, clock=FakeClock())
    for k, frame in enumerate(frames):
        assert frame is not None and frame.capture_time_us == 5_000_000 + k * 100_000
        expected = twin.frame_at(k, frame.capture_time_us)
        np.testing.assert_array_equal(frame.code, expected.code)
        np.testing.assert_array_equal(frame.head_pose.orientation, expected.head_pose.orientation)
        assert frame.gaze is not None and expected.gaze is not None
        np.testing.assert_array_equal(frame.gaze.left, expected.gaze.left)
    with pytest.raises(ValueError, match="out of range"):
        SyntheticLatentSource(LAYOUT, fps=0.5, clock=clock)


def test_paced_latent_source_replays_the_clip_in_real_time_and_loops() -> None:
    clock = FakeClock(START_NS)
    log: list[str] = []
    source = PacedLatentSource(lambda: ClipSource(3, log), 10.0, START_NS, clock=clock)
    frames = [source.read() for _ in range(7)]
    assert [f.sequence for f in frames if f] == list(range(7))
    assert [int(f.code[0]) for f in frames if f] == [0, 1, 2, 0, 1, 2, 0]
    assert [f.capture_time_us for f in frames if f] == [5_000_000 + k * 100_000 for k in range(7)]
    assert all(f.flags == FrameFlags.SPEAKING for f in frames if f)
    assert log == ["open", "close", "open", "close", "open"]
    source.close()
    assert source.read() is None and log[-1] == "close"


def test_a_late_joiner_skips_ahead_to_the_frame_due_now() -> None:
    clock = FakeClock(START_NS + 7 * PERIOD_NS + PERIOD_NS // 2)  # joins 7.5 frames after the clip's origin
    log: list[str] = []
    source = PacedLatentSource(lambda: ClipSource(3, log), 10.0, START_NS, clock=clock)
    assert source.sequence == 7
    first = source.read(timeout=0.0)
    assert first is not None and first.sequence == 7 and int(first.code[0]) == 7 % 3
    assert first.capture_time_us == clock.now_us() == 5_750_000  # frame 7 was due: delivered at once
    second = source.read()
    assert second is not None and second.sequence == 8 and int(second.code[0]) == 8 % 3
    assert second.capture_time_us == 5_800_000


def test_a_source_starting_in_the_future_waits_for_its_origin() -> None:
    clock = FakeClock(START_NS - 250_000_000)
    source = PacedLatentSource(lambda: ClipSource(3, []), 10.0, START_NS, clock=clock)
    assert source.sequence == 0
    assert source.read(timeout=0.1) is None
    frame = source.read()
    assert frame is not None and frame.sequence == 0 and frame.capture_time_us == 5_000_000
