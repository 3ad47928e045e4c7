"""CallFeed: the session's jitter-buffer sample as the engine's ReceivedFrame, with the newest frame's own capture
and buffer times from the session's timing records (for the 'hold' stage); nothing before the first frame."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.latent import HeadPose
from codecav.net.call_base import CallBase
from codecav.net.call_types import FrameTiming, RemoteFrame
from codecav.net.jitter_buffer import PlayoutSample, PlayoutState
from codecav.runtime.call_app import CallFeed, FrameTimingLog


class _Session:
    """What CallFeed and FrameTimingLog use of a call session: one sample per call, timings handed out once."""

    def __init__(self) -> None:
        self.package = build_synthetic_avatar(seed=6)
        self.samples: list[PlayoutSample] = []
        self.timings: list[FrameTiming] = []

    def remote_frame(self, peer: str, render_us: int | None = None, photon_lead_us: int = 0) -> RemoteFrame | None:
        return RemoteFrame(peer, "sha", self.package, self.samples.pop(0)) if self.samples else None

    def frame_timings(self) -> list[FrameTiming]:
        out, self.timings = self.timings, []
        return out


def _sample(state: PlayoutState, sequence: int, shown_us: float, arrival_us: int) -> PlayoutSample:
    return PlayoutSample(np.zeros(4, np.float32), HeadPose.identity(), None, state, shown_us, 80_000.0, sequence,
                         arrival_us)


def test_call_feed_reports_the_instant_shown_and_the_newest_frames_trip() -> None:
    fake = _Session()
    session = cast(CallBase[Any], fake)
    timings = FrameTimingLog(session, keep=2)
    feed = CallFeed(session, "bob", timings)
    assert feed.frame_for_display(1_000_000_000) is None  # the avatar is not ready
    fake.samples = [_sample(PlayoutState.EMPTY, -1, 900_000.0, 0),
                    _sample(PlayoutState.INTERPOLATED, 7, 920_000.0, 960_000),
                    _sample(PlayoutState.HELD, 8, 950_000.0, 990_000)]
    assert feed.frame_for_display(1_000_000_000) is None, "no frame yet: the engine keeps the neutral code"
    fake.timings = [FrameTiming("bob", 7, 940_000.0, 960_000, 960_500, 120),
                    FrameTiming("alice", 7, 1.0, 2, 3, 4)]
    got = feed.frame_for_display(1_000_000_000)
    assert got is not None and got.frame.sequence == 7
    assert (got.capture_ns, got.received_ns, got.frame_capture_ns) == (920_000_000, 960_500_000, 940_000_000)
    assert got.transit_ns == 20_500_000  # frame 7 took 20.5 ms from its capture to the buffer
    # Frame 8's record has not been handed out: its trip counts from the sample's arrival and instant shown.
    got = feed.frame_for_display(1_033_000_000)
    assert got is not None and (got.received_ns, got.frame_capture_ns, got.transit_ns) == (990_000_000, None,
                                                                                            40_000_000)
    fake.timings = [FrameTiming("bob", 9, 1.0, 2, 3, 4)]
    assert [(t.peer, t.sequence) for t in timings.all()] == [("alice", 7), ("bob", 9)], "only the newest 2 kept"
