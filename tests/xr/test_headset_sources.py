"""The headset as a sender without a headset: readings made by hand drive the head-tracked source and the
face/gaze expression sources, and fusion blends them with an audio-like source by confidence."""

from __future__ import annotations

import threading

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.base import ExpressionSample, LatentSource
from codecav.encoders.fusion import fuse
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.xr.headset_sources import (
    HeadsetFaceSource,
    HeadsetGazeSource,
    HeadsetReading,
    HeadsetTracking,
    HeadTrackedSource,
)
from codecav.xr.openxr.face_tracking import FB_INDEX, fb_to_arkit
from codecav.xr.openxr.tracking import FaceSample


class _Frames(LatentSource):
    """LatentFrames 0, 1, 2 ... with identity head pose and no gaze."""

    name = "frames"

    def __init__(self) -> None:
        self.sequence = 0
        self.closed = False

    def read(self, timeout: float | None = None) -> LatentFrame | None:
        frame = LatentFrame(self.sequence, self.sequence * 1000, np.zeros(4, np.float32), flags=FrameFlags.NO_GAZE)
        self.sequence += 1
        return frame

    def close(self) -> None:
        self.closed = True


def _reading(t_ns: int, yaw: float = 0.0, gaze: Gaze | None = None, face: FaceSample | None = None
             ) -> HeadsetReading:
    q = np.array([0, np.sin(yaw / 2), 0, np.cos(yaw / 2)], np.float32)
    return HeadsetReading(t_ns, t_ns + 50_000_000, HeadPose(np.zeros(3, np.float32), q),
                          HeadPose(np.array([0, 0, 0.01], np.float32), q), gaze, face)


def _face(jaw: float, upper: float, lower: float) -> FaceSample:
    fb = np.zeros(70, np.float32)
    fb[FB_INDEX["JAW_DROP"]] = jaw
    return FaceSample(fb_to_arkit(fb), fb, lower, upper, 0)


def test_head_tracked_source_stamps_the_newest_head_pose_and_gaze() -> None:
    tracking = HeadsetTracking()
    inner = _Frames()
    source = HeadTrackedSource(inner, tracking)
    first = source.read()
    assert first is not None and np.allclose(first.head_pose.orientation, [0, 0, 0, 1]) and not source.stamped
    gaze = Gaze(np.array([0, 0, 1], np.float32), np.array([0, 0, 1], np.float32))
    tracking.put(_reading(1_000, yaw=0.3, gaze=gaze))
    tracking.put(_reading(2_000, yaw=0.5, gaze=gaze))
    frame = source.read()
    assert frame is not None
    np.testing.assert_allclose(frame.head_pose.orientation, [0, np.sin(0.25), 0, np.cos(0.25)], atol=1e-6)
    np.testing.assert_allclose(frame.head_pose.position, [0, 0, 0.01])
    assert frame.gaze is gaze and not frame.flags & FrameFlags.NO_GAZE
    assert [s.sequence for s in source.stamped] == [1] and source.stamped[0].reading.time_ns == 2_000
    source.close()
    assert inner.closed


def test_face_source_turns_fb_weights_into_arkit_with_region_confidences() -> None:
    tracking = HeadsetTracking()
    face = HeadsetFaceSource(tracking)
    assert face.read(timeout=0.01) is None  # nothing yet
    tracking.put(_reading(5_000_000, face=_face(jaw=0.8, upper=0.9, lower=0.4)))
    sample = face.read(timeout=1.0)
    assert sample is not None and sample.capture_time_us == 5_000
    assert sample.weights[ARKIT_INDEX["jawOpen"]] == np.float32(0.8)
    assert sample.confidence[ARKIT_INDEX["jawOpen"]] == np.float32(0.4)
    assert sample.confidence[ARKIT_INDEX["browInnerUp"]] == np.float32(0.9)
    assert sample.confidence[ARKIT_INDEX["eyeBlinkLeft"]] == np.float32(0.9)
    assert face.read(timeout=0.01) is None  # each reading once


def test_gaze_source_skips_readings_without_gaze() -> None:
    tracking = HeadsetTracking()
    gaze_source = HeadsetGazeSource(tracking)
    left = np.array([np.sin(0.2), 0, np.cos(0.2)], np.float32)  # towards the avatar's left
    tracking.put(_reading(1_000))
    tracking.put(_reading(2_000, gaze=Gaze(left, left)))
    sample = gaze_source.read(timeout=1.0)
    assert sample is not None and sample.gaze is not None
    assert sample.weights[ARKIT_INDEX["eyeLookOutLeft"]] > 0.3 and sample.weights[ARKIT_INDEX["eyeLookInRight"]] > 0.3
    assert sample.confidence[ARKIT_INDEX["jawOpen"]] == 0


def test_close_wakes_a_waiting_reader() -> None:
    tracking = HeadsetTracking()
    source = HeadsetFaceSource(tracking)
    result: list[ExpressionSample | None] = []
    reader = threading.Thread(target=lambda: result.append(source.read(timeout=30.0)))
    reader.start()
    tracking.close()
    reader.join(5.0)
    assert not reader.is_alive() and result == [None]


def test_fusion_prefers_confident_face_tracking_for_the_mouth_and_audio_when_it_is_not() -> None:
    tracking = HeadsetTracking()
    face = HeadsetFaceSource(tracking)
    n = len(ARKIT_52)
    audio_weights = np.zeros(n, np.float32)
    audio_weights[ARKIT_INDEX["jawOpen"]] = 0.2
    audio_conf = np.zeros(n, np.float32)
    audio_conf[ARKIT_INDEX["jawOpen"]] = 1.0
    audio = ExpressionSample(0, audio_weights, audio_conf)
    for lower, expected in ((1.0, 0.8), (0.0, 0.2)):
        tracking.put(_reading(1_000, face=_face(jaw=0.8, upper=1.0, lower=lower)))
        sample = face.read(timeout=1.0)
        assert sample is not None
        fused = fuse({"face_tracking": sample, "audio": audio})
        assert abs(fused.weights[ARKIT_INDEX["jawOpen"]] - expected) < 0.05, (lower, fused.weights)
        assert fused.head_pose is sample.head_pose
