"""The headset as a sender: what the render loop reads from OpenXR each frame, handed to the encoder thread.

The render loop `put`s one `HeadsetReading` per frame into `HeadsetTracking` (a thread-safe latest-value box):
the head pose relative to the seated origin, eye gaze and face weights when the runtime offers them. The
sender side reads it through
- `HeadTrackedSource`: wraps any LatentSource and stamps each frame with the newest head pose (and gaze, when
  the frame has none), so the head you move is the head the others see;
- `HeadsetFaceSource` / `HeadsetGazeSource`: ExpressionSources of kind 'face_tracking' and 'gaze' that fusion
  blends with the others (mic, webcam) by confidence.
No GL or OpenXR import: tests drive them with readings made by hand.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.clock import MONOTONIC, Clock
from codecav.encoders.base import ExpressionSample, ExpressionSource, LatentSource
from codecav.encoders.fusion import region_of
from codecav.encoders.gaze import gaze_confidence, gaze_to_weights
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.xr.openxr.tracking import FaceSample

UPPER_FACE = np.array([region_of(n) in ("eyes", "gaze", "brows") for n in ARKIT_52])
"""bool [52]: ARKit weights the runtime's upper-face confidence covers (the rest: its lower-face one)."""


@dataclass(frozen=True)
class HeadsetReading:
    """What the headset reported for one frame."""

    time_ns: int
    """When it was read (the render loop's clock): the capture time of what it carries."""
    display_ns: int
    """The predicted display time it was located for (monotonic; 0 when unknown)."""
    runtime_pose: HeadPose | None
    """The HMD pose as the runtime reports it (reference space, OpenXR axes), None when untracked."""
    head_pose: HeadPose | None
    """The same relative to the seated origin, in codecav head space: what the call sends."""
    gaze: Gaze | None = None
    """Eye gaze in codecav head space, None without an eye tracker."""
    face: FaceSample | None = None
    """Face expression weights, None without face tracking."""


class HeadsetTracking:
    """The newest HeadsetReading, put by the render thread and read by encoder threads."""

    def __init__(self, clock: Clock = MONOTONIC) -> None:
        """`clock` times the readers' waits."""
        self.clock = clock
        self._cond = threading.Condition()
        self._latest: HeadsetReading | None = None
        self._count = 0
        self.closed = threading.Event()
        """Set by `close`: readers stop waiting."""

    def put(self, reading: HeadsetReading) -> None:
        """Publish a reading (replacing the previous one)."""
        with self._cond:
            self._latest = reading
            self._count += 1
            self._cond.notify_all()

    def latest(self) -> HeadsetReading | None:
        """The newest reading, or None before the first."""
        with self._cond:
            return self._latest

    def wait_newer(self, seen: int, timeout_s: float | None) -> tuple[int, HeadsetReading | None]:
        """(count, reading) once more than `seen` readings were put; (seen, None) on time-out or close."""
        with self._cond:
            if self._count <= seen and not self.closed.is_set():
                self._cond.wait_for(lambda: self._count > seen or self.closed.is_set(), timeout_s)
            if self._count <= seen or self.closed.is_set():
                return seen, None
            return self._count, self._latest

    def close(self) -> None:
        """Wake and end every reader."""
        with self._cond:
            self.closed.set()
            self._cond.notify_all()


@dataclass(frozen=True)
class StampedHead:
    """One sent frame and the headset reading its head pose came from (for reports and tests)."""

    sequence: int
    """The LatentFrame's sequence."""
    capture_time_us: int
    """Its capture time."""
    reading: HeadsetReading
    """The reading whose head pose (and gaze) it carries."""


class HeadTrackedSource(LatentSource):
    """Wraps a LatentSource: each frame carries the newest head pose from the headset (and its gaze when the
    frame has none). Before the first reading frames pass unchanged."""

    name: ClassVar[str] = "head-tracked"

    def __init__(self, inner: LatentSource, tracking: HeadsetTracking, keep: int = 20_000) -> None:
        """Stamp `inner`'s frames from `tracking`; remember the last `keep` stamps in `stamped`."""
        self.inner = inner
        self.tracking = tracking
        self.stamped: deque[StampedHead] = deque(maxlen=keep)
        """The frames stamped so far (newest last), with the reading used."""

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The inner source's next frame with the headset's head pose."""
        frame = self.inner.read(timeout)
        if frame is None:
            return None
        reading = self.tracking.latest()
        if reading is None or reading.head_pose is None:
            return frame
        gaze, flags = frame.gaze, frame.flags
        if gaze is None and reading.gaze is not None:
            gaze, flags = reading.gaze, flags & ~FrameFlags.NO_GAZE
        self.stamped.append(StampedHead(frame.sequence, frame.capture_time_us, reading))
        return LatentFrame(frame.sequence, frame.capture_time_us, frame.code, reading.head_pose, gaze, flags)

    def close(self) -> None:
        """Close the inner source."""
        self.inner.close()


class _HeadsetExpressionSource(ExpressionSource):
    """Each new reading that has what this source reads becomes one ExpressionSample."""

    def __init__(self, tracking: HeadsetTracking) -> None:
        self.tracking = tracking
        self._seen = 0
        self._closed = threading.Event()

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next reading's sample; None after `timeout` seconds without one, or once closed."""
        clock = self.tracking.clock
        deadline = None if timeout is None else clock.now_ns() + int(timeout * 1e9)
        while not self._closed.is_set():
            left = None if deadline is None else max(0.0, (deadline - clock.now_ns()) / 1e9)
            count, reading = self.tracking.wait_newer(self._seen, left)
            if reading is None:
                return None
            self._seen = count
            sample = self.sample(reading)
            if sample is not None:
                return sample
            if deadline is not None and clock.now_ns() >= deadline:
                return None
        return None

    def sample(self, reading: HeadsetReading) -> ExpressionSample | None:
        """The sample of one reading, or None when it lacks what this source reads."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading."""
        self._closed.set()


class HeadsetFaceSource(_HeadsetExpressionSource):
    """XR_FB_face_tracking2 weights (mapped to ARKit-52) with the runtime's upper/lower-face confidences."""

    name: ClassVar[str] = "openxr-face"

    def sample(self, reading: HeadsetReading) -> ExpressionSample | None:
        """ARKit weights; upper-face weights at the upper confidence, the rest at the lower one."""
        face = reading.face
        if face is None:
            return None
        confidence = np.where(UPPER_FACE, face.confidence_upper, face.confidence_lower).astype(np.float32)
        return ExpressionSample(reading.time_ns // 1000, np.clip(face.arkit, 0, 1).astype(np.float32), confidence,
                                head_pose=reading.head_pose, gaze=reading.gaze)


class HeadsetGazeSource(_HeadsetExpressionSource):
    """XR_EXT_eye_gaze_interaction gaze as eyeLook* weights, with the gaze itself."""

    name: ClassVar[str] = "openxr-gaze"

    def sample(self, reading: HeadsetReading) -> ExpressionSample | None:
        """eyeLook* weights of the gaze, fully confident; None while the eyes are untracked."""
        if reading.gaze is None:
            return None
        return ExpressionSample(reading.time_ns // 1000, gaze_to_weights(reading.gaze), gaze_confidence(),
                                head_pose=reading.head_pose, gaze=reading.gaze)
