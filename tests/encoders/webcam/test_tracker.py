"""WebcamTracker.update, the driver's work after the landmarker, on hand-made observations (runs without the
`webcam` extra): eye and face channels smoothed apart, calibration, pose in metres relative to rest, lost face.
The landmarker is a stand-in that is never called (the only mocked part); real-landmarker runs are in
test_webcam_real.py."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.webcam.filter import OneEuroParams
from codecav.encoders.webcam.landmarker import FaceLandmarker, FaceObservation
from codecav.encoders.webcam.mapping import LEFT_IRIS, RIGHT_IRIS
from codecav.encoders.webcam.tracker import EYE_CHANNELS, TrackerConfig, WebcamTracker

N = len(ARKIT_52)


class _UnusedLandmarker(FaceLandmarker):
    """Never detects: update() is fed observations directly."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _observation(weights: dict[str, float] | None = None, t_cm: tuple[float, float, float] = (0.0, 0.0, -60.0),
                 yaw_deg: float = 0.0) -> FaceObservation:
    w = np.zeros(N, np.float32)
    for name, value in (weights or {}).items():
        w[ARKIT_INDEX[name]] = value
    m = np.eye(4, dtype=np.float32)
    y = np.radians(yaw_deg)
    m[:3, :3] = [[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]]
    m[:3, 3] = t_cm
    lm = np.full((478, 3), 0.5, np.float32)
    lm[LEFT_IRIS, 0], lm[RIGHT_IRIS, 0] = 0.55, 0.45  # 64 px apart at 640 wide
    return FaceObservation(w, m, lm, (640, 480))


def _tracker(**config: object) -> WebcamTracker:
    return WebcamTracker(TrackerConfig(**config), landmarker=_UnusedLandmarker())  # type: ignore[arg-type]


def test_eyes_follow_faster_than_the_face() -> None:
    """A step on a blink and on the jaw: with the default tuning the eye channel gets further in one frame."""
    assert EYE_CHANNELS[ARKIT_INDEX["eyeBlinkLeft"]] and not EYE_CHANNELS[ARKIT_INDEX["jawOpen"]]
    tracker = _tracker(calibration_frames=0)
    tracker.update(_observation(), 0.0, 0)
    out = tracker.update(_observation({"eyeBlinkLeft": 1.0, "jawOpen": 1.0}), 1 / 30, 33_333).sample.weights
    assert 0.0 < out[ARKIT_INDEX["jawOpen"]] < out[ARKIT_INDEX["eyeBlinkLeft"]] < 1.0
    still = _tracker(calibration_frames=0, eye_filter=OneEuroParams(min_cutoff=0.1, beta=0.0))
    still.update(_observation(), 0.0, 0)
    slow = still.update(_observation({"eyeBlinkLeft": 1.0}), 1 / 30, 33_333).sample.weights
    assert slow[ARKIT_INDEX["eyeBlinkLeft"]] < 0.05  # the eye parameters are the ones applied


def test_auto_calibration_then_relative_pose() -> None:
    tracker = _tracker(calibration_frames=3)
    rest = {"mouthSmileLeft": 0.4}
    for k in range(3):
        frame = tracker.update(_observation(rest, (2.0, -1.0, -55.0)), k / 30, k)
        assert frame.sample.head_pose is not None
    assert tracker.neutral is not None and not tracker.calibrating
    assert np.allclose(tracker.neutral.head_position, [0.02, -0.01, -0.55])
    frame = tracker.update(_observation(rest, (2.0, -1.0, -55.0)), 3 / 30, 3)
    assert frame.sample.head_pose is not None
    assert np.allclose(frame.sample.head_pose.position, 0.0, atol=1e-6)
    assert frame.sample.weights[ARKIT_INDEX["mouthSmileLeft"]] < 0.15  # filtered towards the calibrated 0


def test_pose_is_metres_and_smoothed() -> None:
    tracker = _tracker(calibration_frames=0)
    first = tracker.update(_observation(t_cm=(0.0, 0.0, -60.0)), 0.0, 0).sample.head_pose
    assert first is not None and np.allclose(first.position, [0, 0, -0.6])
    moved = tracker.update(_observation(t_cm=(10.0, 0.0, -60.0), yaw_deg=30.0), 1 / 30, 1).sample.head_pose
    assert moved is not None and 0.0 < moved.position[0] < 0.1
    assert np.linalg.norm(moved.orientation) == pytest.approx(1.0, abs=1e-6)
    assert 0.0 < moved.orientation[1] < np.sin(np.radians(15.0))  # part way to a 30 degree yaw


def test_lost_face_and_close() -> None:
    tracker = _tracker(calibration_frames=0)
    seen = tracker.update(_observation({"jawOpen": 0.5}), 0.0, 0).sample
    lost = tracker.update(None, 1 / 30, 1).sample
    assert lost.confidence.max() == 0.0 and lost.head_pose is None and lost.gaze is None
    assert np.array_equal(lost.weights, seen.weights)
    back = tracker.update(_observation({"jawOpen": 0.9}), 2 / 30, 2).sample
    assert back.weights[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.9)  # filters restart, no blend across the gap
    assert back.confidence[ARKIT_INDEX["jawOpen"]] == pytest.approx(1.0)
    tracker.close()
    assert tracker._landmarker.closed  # type: ignore[attr-defined]  # white-box: close reaches the landmarker
