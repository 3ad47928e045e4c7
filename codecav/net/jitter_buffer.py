"""Receiver-side jitter buffer (pure, no I/O): adaptive playout delay, interpolation to render time,
hold-and-decay on loss.

All times are microseconds on the receiver's monotonic clock; the caller maps each frame's capture time there
with the clock-sync estimate. A frame captured at C is shown at C + D, where the playout delay D follows the
recent transit times (arrival - capture) so that the frame due at the playout point has usually arrived, plus,
while the renderer samples faster than frames come, one frame interval so that the frame after it has too and
samples blend the two (JitterConfig.lookahead_frames).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.net.interpolate import decay_weight, lerp_gaze, lerp_pose


@dataclass(frozen=True)
class JitterConfig:
    """Tuning of a JitterBuffer."""

    min_delay_ms: float = 10.0
    """Playout delay never goes below this."""
    max_delay_ms: float = 250.0
    """Playout delay never goes above this (later frames are dropped as late)."""
    transit_quantile: float = 0.95
    """The delay covers this quantile of recent transit times, plus the look-ahead and the margin."""
    lookahead_frames: float | None = None
    """Frame intervals of look-ahead added to the delay, so that the frame after the playout point has usually
    arrived and every sample blends two frames. None (auto): one interval while the renderer samples faster than
    frames come (more renders than frames: blending smooths the motion between them), none while it samples at
    or below the frame rate (each render shows the newest frame due, which is as smooth, and a look-ahead would
    only add an interval of latency)."""
    faster_ratio: float = 0.8
    """Auto look-ahead: the renderer counts as faster when its median render interval is below this fraction of
    the frame interval."""
    margin_ms: float = 3.0
    """Added on top of the quantile (scheduling noise of the renderer)."""
    assumed_interval_ms: float = 33.3
    """Frame interval assumed until two consecutive frames have been seen."""
    window: int = 120
    """Recent frames whose transit times steer the delay (4 s at 30 frames/s)."""
    raise_rate: float = 0.5
    """How fast the delay grows towards its target, in ms per ms of render time (playback slows to half)."""
    lower_rate: float = 0.02
    """How fast it shrinks (playback 2% fast: unnoticeable)."""
    floor_jumps: bool = True
    """A floor above the delay is taken at once (the face holds its frame for that long) rather than at
    `raise_rate`: the floor is the voice's delay, and a face trailing a voice that has just started or restarted
    later would show the mouth moving ahead of the sound it makes until it caught up."""
    floor_lower_rate: float = 0.1
    """How fast it shrinks once a floor that held it above its own need has gone down (the voice it waited for
    caught up): playback 10% fast, in step with the voice speeding up, so the two do not hold each other up."""
    hold_ms: float = 120.0
    """After the newest frame runs out, hold it this long (covers a few lost frames)."""
    decay_ms: float = 300.0
    """Then decay towards the neutral code with this time constant."""
    capacity: int = 256
    """Most frames kept."""


class PlayoutState(Enum):
    """How a PlayoutSample was made."""

    EMPTY = "empty"
    """No frame yet: the neutral code at the identity pose."""
    INTERPOLATED = "interpolated"
    """Blended between the frames either side of the playout point (also across lost frames)."""
    CURRENT = "current"
    """The newest frame, less than a frame interval older than the playout point (its successor is not due yet):
    shown as it is. With no look-ahead (renderer no faster than the frames) this is the normal state."""
    HELD = "held"
    """The newest frame is more than a frame interval older than the playout point (its successor is overdue):
    held unchanged."""
    DECAYING = "decaying"
    """Held too long, or tracking lost: decaying towards the neutral code."""


@dataclass(frozen=True)
class PlayoutSample:
    """What to render for one remote avatar at one render time."""

    code: np.ndarray
    """float32 [D] code to decode."""
    head_pose: HeadPose
    """Interpolated head pose."""
    gaze: Gaze | None
    """Interpolated gaze, if known."""
    state: PlayoutState
    """How the sample was made."""
    capture_time_us: float
    """The capture instant shown (render time minus playout delay), receiver clock."""
    playout_delay_us: float
    """Current playout delay."""
    sequence: int
    """Sequence of the newest frame used (-1 when empty)."""
    arrival_us: int
    """Arrival time of that frame (for the profiler; 0 when empty)."""
    flags: FrameFlags = FrameFlags.NONE
    """Flags of that frame."""


@dataclass
class JitterStats:
    """Counters of a JitterBuffer (mutable, updated in place)."""

    received: int = 0
    """Distinct frames accepted."""
    duplicates: int = 0
    """Frames whose sequence was already held or played."""
    late: int = 0
    """Frames that arrived after their capture time had been played."""
    first_sequence: int = -1
    """Lowest sequence seen."""
    last_sequence: int = -1
    """Highest sequence seen."""
    longest_stall_us: float = 0.0
    """Longest span of render time without an interpolated or current sample (held, decaying), after the first
    one."""
    longest_freeze_us: float = 0.0
    """Longest span of render time showing one frame unchanged (held), after the first frame shown in time."""
    samples: dict[str, int] = field(default_factory=dict)
    """Samples returned per PlayoutState value."""

    @property
    def lost(self) -> int:
        """Sequences in [first, last] never received in time (lost on the network, dropped, or late)."""
        if self.first_sequence < 0:
            return 0
        return max(0, self.last_sequence - self.first_sequence + 1 - self.received)


@dataclass(frozen=True)
class _Entry:
    capture_us: float
    arrival_us: int
    frame: LatentFrame


class JitterBuffer:
    """Frames of one remote avatar in capture-time order; `push` on arrival, `sample` at each render time."""

    def __init__(self, dim: int, config: JitterConfig | None = None, neutral_code: np.ndarray | None = None) -> None:
        self.config = config or JitterConfig()
        self.neutral = np.zeros(dim, np.float32) if neutral_code is None else neutral_code.astype(np.float32)
        if self.neutral.shape != (dim,):
            raise ValueError(f"neutral code has shape {self.neutral.shape}; the layout has {dim} entries")
        self.stats = JitterStats()
        self._entries: list[_Entry] = []
        self._keys: list[float] = []
        self._seen: set[int] = set()
        self._transits: deque[float] = deque(maxlen=self.config.window)
        self._intervals: deque[float] = deque(maxlen=self.config.window)
        self._render_steps: deque[float] = deque(maxlen=self.config.window)
        self._delay_us = self.config.min_delay_ms * 1000.0
        self.floor_us = 0.0
        """A lower bound on the delay set from outside: the voice path's delay, so face and voice stay in sync."""
        self._floor_held = False
        self._last_render_us: float | None = None
        self._played_until_us = -np.inf
        self._stall_start_us: float | None = None
        self._freeze_start_us: float | None = None
        self._last_tracked: _Entry | None = None

    @property
    def playout_delay_us(self) -> float:
        """The current playout delay."""
        return self._delay_us

    @property
    def min_transit_us(self) -> float | None:
        """Smallest recent transit (arrival - capture): the path's delay without queueing (for lip-sync)."""
        return min(self._transits) if self._transits else None

    def frame_interval_us(self) -> float:
        """Median interval between consecutive frames' capture times (the assumed one until two were seen)."""
        if self._intervals:
            return float(np.median(np.fromiter(self._intervals, float)))
        return self.config.assumed_interval_ms * 1000.0

    def lookahead_frames(self) -> float:
        """Frame intervals of look-ahead in the delay now (JitterConfig.lookahead_frames; auto: 1 while the
        renderer samples faster than frames come, else 0; 1 until a few render intervals were seen)."""
        cfg = self.config
        if cfg.lookahead_frames is not None:
            return cfg.lookahead_frames
        if len(self._render_steps) < 8:
            return 1.0
        render_step = float(np.median(np.fromiter(self._render_steps, float)))
        return 1.0 if render_step < cfg.faster_ratio * self.frame_interval_us() else 0.0

    def needed_delay_us(self) -> float:
        """The delay the recent transit times ask for, without the floor (0 before any frame)."""
        cfg = self.config
        if not self._transits:
            return 0.0
        transit = float(np.quantile(np.fromiter(self._transits, float), cfg.transit_quantile))
        return transit + self.lookahead_frames() * self.frame_interval_us() + cfg.margin_ms * 1000.0

    def target_delay_us(self) -> float:
        """The delay the recent transit times ask for, raised to the floor (the current one moves towards it)."""
        cfg = self.config
        target = max(self.needed_delay_us(), self.floor_us)
        return float(np.clip(target, cfg.min_delay_ms * 1000.0, cfg.max_delay_ms * 1000.0))

    def push(self, frame: LatentFrame, capture_local_us: float, arrival_us: int) -> bool:
        """Add a frame captured at `capture_local_us` (receiver clock) that arrived at `arrival_us`;
        False (and counted) for duplicates and frames whose time has already been played."""
        stats = self.stats
        if frame.sequence in self._seen:
            stats.duplicates += 1
            return False
        self._transits.append(float(arrival_us) - capture_local_us)
        if capture_local_us < self._played_until_us:
            stats.late += 1
            self._seen.add(frame.sequence)
            return False
        self._seen.add(frame.sequence)
        if len(self._seen) > 4 * self.config.capacity:
            self._seen = {e.frame.sequence for e in self._entries} | {frame.sequence}
        stats.received += 1
        if stats.first_sequence < 0 or frame.sequence < stats.first_sequence:
            stats.first_sequence = frame.sequence
        stats.last_sequence = max(stats.last_sequence, frame.sequence)
        index = bisect.bisect(self._keys, capture_local_us)
        if index > 0:
            prev = self._entries[index - 1]
            gap = frame.sequence - prev.frame.sequence
            if 0 < gap <= 4:
                self._intervals.append((capture_local_us - prev.capture_us) / gap)
        self._keys.insert(index, capture_local_us)
        self._entries.insert(index, _Entry(capture_local_us, arrival_us, frame))
        if len(self._entries) > self.config.capacity:
            del self._entries[0], self._keys[0]
        return True

    def _advance_delay(self, render_us: float) -> None:
        needed = self.needed_delay_us()
        target = self.target_delay_us()
        if self.floor_us > needed and self.floor_us >= self._delay_us:
            self._floor_held = True  # the floor, not the frames' own transits, sets the delay
        if self._last_render_us is not None and render_us > self._last_render_us:
            self._render_steps.append(render_us - self._last_render_us)
        if self._last_render_us is not None and self._started():
            step = max(0.0, render_us - self._last_render_us)
            if target > self._delay_us and self.config.floor_jumps and self.floor_us >= target:
                self._delay_us = target
            elif target > self._delay_us:
                self._delay_us = min(target, self._delay_us + step * self.config.raise_rate)
            else:
                rate = self.config.floor_lower_rate if self._floor_held else self.config.lower_rate
                self._delay_us = max(target, self._delay_us - step * rate)
        else:
            self._delay_us = target
        if self._delay_us <= needed or self._delay_us <= target and self.floor_us <= needed:
            self._floor_held = False
        self._last_render_us = render_us

    def sample(self, render_us: float) -> PlayoutSample:
        """What to show at `render_us` (receiver clock): interpolated, held or decaying."""
        if not self._entries and self.stats.received == 0:
            sample = PlayoutSample(self.neutral.copy(), HeadPose.identity(), None, PlayoutState.EMPTY,
                                   render_us - self._delay_us, self._delay_us, -1, 0)
            self._count(sample, render_us)
            return sample  # nothing received: no time has been played, so no frame can be late yet
        self._advance_delay(render_us)
        point = render_us - self._delay_us
        self._played_until_us = max(self._played_until_us, point)
        entries = self._entries
        index = bisect.bisect_right(self._keys, point)
        for entry in entries[:index]:
            if FrameFlags.TRACKING_LOST not in entry.frame.flags:
                self._last_tracked = entry
        # Frames older than the one before the playout point are no longer needed.
        if index > 1:
            del entries[: index - 1], self._keys[: index - 1]
            index = 1
        if not entries:
            sample = PlayoutSample(self.neutral.copy(), HeadPose.identity(), None, PlayoutState.EMPTY, point,
                                   self._delay_us, -1, 0)
        elif index == 0:  # every frame is still in the future: show the oldest as it is
            sample = self._plain(entries[0], point, PlayoutState.HELD)
        elif index < len(entries):
            sample = self._between(entries[index - 1], entries[index], point)
        else:
            sample = self._hold(entries[index - 1], point)
        self._count(sample, render_us)
        return sample

    def _plain(self, entry: _Entry, point: float, state: PlayoutState) -> PlayoutSample:
        f = entry.frame
        return PlayoutSample(f.code.copy(), f.head_pose, f.gaze, state, point, self._delay_us, f.sequence,
                             entry.arrival_us, f.flags)

    def _between(self, a: _Entry, b: _Entry, point: float) -> PlayoutSample:
        span = b.capture_us - a.capture_us
        w = 0.0 if span <= 0 else float(np.clip((point - a.capture_us) / span, 0.0, 1.0))
        fa, fb = a.frame, b.frame
        if FrameFlags.TRACKING_LOST in fb.flags or FrameFlags.TRACKING_LOST in fa.flags:
            return self._decay_from_tracked(b, point, lerp_pose(fa.head_pose, fb.head_pose, w))
        code = (fa.code.astype(np.float32) * np.float32(1.0 - w) + fb.code.astype(np.float32) * np.float32(w))
        return PlayoutSample(code.astype(np.float32), lerp_pose(fa.head_pose, fb.head_pose, w),
                             lerp_gaze(fa.gaze, fb.gaze, w), PlayoutState.INTERPOLATED, point, self._delay_us,
                             fb.sequence, b.arrival_us, fb.flags)

    def _hold(self, entry: _Entry, point: float) -> PlayoutSample:
        cfg = self.config
        f = entry.frame
        if FrameFlags.TRACKING_LOST in f.flags:
            return self._decay_from_tracked(entry, point, f.head_pose)
        if point - entry.capture_us < self.frame_interval_us():  # its successor is not due yet
            return self._plain(entry, point, PlayoutState.CURRENT)
        weight = decay_weight(point - entry.capture_us, cfg.hold_ms * 1000.0, cfg.decay_ms * 1000.0)
        state = PlayoutState.HELD if weight >= 1.0 else PlayoutState.DECAYING
        code = self.neutral + (f.code.astype(np.float32) - self.neutral) * np.float32(weight)
        return PlayoutSample(code.astype(np.float32), f.head_pose, f.gaze, state, point, self._delay_us,
                             f.sequence, entry.arrival_us, f.flags)

    def _decay_from_tracked(self, newest: _Entry, point: float, pose: HeadPose) -> PlayoutSample:
        """Tracking lost: the last tracked code decays towards neutral from its capture time (no hold)."""
        cfg = self.config
        code = self.neutral.copy()
        tracked = self._last_tracked
        if tracked is not None:
            weight = decay_weight(point - tracked.capture_us, 0.0, cfg.decay_ms * 1000.0)
            code = self.neutral + (tracked.frame.code.astype(np.float32) - self.neutral) * np.float32(weight)
        return PlayoutSample(code.astype(np.float32), pose, newest.frame.gaze, PlayoutState.DECAYING, point,
                             self._delay_us, newest.frame.sequence, newest.arrival_us, newest.frame.flags)

    def _started(self) -> bool:
        """Whether a frame has been shown in time (interpolated or current) yet."""
        samples = self.stats.samples
        return bool(samples.get(PlayoutState.INTERPOLATED.value) or samples.get(PlayoutState.CURRENT.value))

    def _count(self, sample: PlayoutSample, render_us: float) -> None:
        stats = self.stats
        stats.samples[sample.state.value] = stats.samples.get(sample.state.value, 0) + 1
        if not self._started():
            return  # not started yet: waiting for the first frames is neither a stall nor a freeze
        stalled = sample.state not in (PlayoutState.INTERPOLATED, PlayoutState.CURRENT)
        self._stall_start_us = (self._stall_start_us if self._stall_start_us is not None else render_us) \
            if stalled else None
        if self._stall_start_us is not None:
            stats.longest_stall_us = max(stats.longest_stall_us, render_us - self._stall_start_us)
        frozen = sample.state is PlayoutState.HELD
        self._freeze_start_us = (self._freeze_start_us if self._freeze_start_us is not None else render_us) \
            if frozen else None
        if self._freeze_start_us is not None:
            stats.longest_freeze_us = max(stats.longest_freeze_us, render_us - self._freeze_start_us)
