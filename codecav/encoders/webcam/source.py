"""Webcam driver: a real face on a camera or in a video file drives the avatar without a headset. An
ExpressionSource (`webcam[:DEVICE|FILE]`) whose capture thread decodes frames with PyAV and tracks them with
MediaPipe's FaceLandmarker (the optional `webcam` extra); see docs/webcam.md."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import numpy as np

from codecav.clock import MONOTONIC, Clock
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.webcam.calibration import NeutralFace
from codecav.encoders.webcam.landmarker import FaceLandmarker, FaceObservation, import_mediapipe
from codecav.encoders.webcam.model import load_landmarker_model
from codecav.encoders.webcam.tracker import TrackerConfig, WebcamTracker
from codecav.encoders.webcam.video import CameraOptions, VideoInput, parse_webcam_spec

__all__ = ["WebcamConfig", "WebcamFrame", "WebcamSource", "open_webcam_source"]


@dataclass(frozen=True)
class WebcamConfig:
    """Options of a webcam source."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    """Per-frame processing: smoothing, calibration, confidence, detection thresholds."""
    camera: CameraOptions = field(default_factory=CameraOptions)
    """Size and rate asked of a camera."""
    realtime: bool = False
    """Pace a video file at its frame rate (as a camera would deliver it) instead of as fast as it is read."""
    queue_frames: int = 2
    """Tracked frames buffered ahead of the reader; a camera drops the oldest when the reader falls behind, a
    file waits for the reader."""


@dataclass(frozen=True)
class WebcamFrame:
    """One tracked video frame: the picture and what the driver made of it."""

    index: int
    """Frame number from 0."""
    time_s: float
    """Presentation time in seconds from the first frame."""
    rgb: np.ndarray
    """uint8 [H, W, 3] the input picture (for side-by-side rendering)."""
    sample: ExpressionSample
    """The expression sample (all-zero confidence when no face was found)."""
    observation: FaceObservation | None
    """The landmarker's raw output, None when no face was found."""


_END = object()


class WebcamSource(ExpressionSource):
    """ARKit-52 samples from a camera or video file; `read_frame()` also returns the picture."""

    name = "webcam"

    def __init__(self, video: VideoInput, tracker: WebcamTracker, config: WebcamConfig | None = None, *,
                 clock: Clock = MONOTONIC) -> None:
        """Start tracking `video` with `tracker` on a capture thread; both are closed by close(). `clock`
        stamps camera frames and paces a realtime file."""
        self.config = config or WebcamConfig()
        self._clock = clock
        self._video = video
        self._tracker = tracker
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, self.config.queue_frames))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._ended = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"webcam:{video.spec.path}", daemon=True)
        self._thread.start()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the input frames."""
        return self._video.size

    @property
    def fps(self) -> float:
        """Nominal frame rate of the input (0 when unknown)."""
        return self._video.fps

    @property
    def neutral(self) -> NeutralFace | None:
        """The neutral-face calibration in use, None before one is measured or given."""
        with self._lock:
            return self._tracker.neutral

    def calibrate(self, frames: int | None = None) -> None:
        """Measure the user's neutral face over the next `frames` tracked frames (ask them to relax)."""
        with self._lock:
            self._tracker.calibrate(frames)

    def set_neutral(self, neutral: NeutralFace | None) -> None:
        """Use a saved calibration from the next frame (None: raw weights)."""
        with self._lock:
            self._tracker.set_neutral(neutral)

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next sample; None at the end of a file, after close(), or after `timeout` s without one."""
        frame = self.read_frame(timeout)
        return None if frame is None else frame.sample

    def read_frame(self, timeout: float | None = None) -> WebcamFrame | None:
        """The next tracked frame; None at the end, after close(), or after `timeout` s. Re-raises a
        CameraError the capture thread hit (a camera unplugged, a corrupt file)."""
        if self._ended or self._stop.is_set():
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._ended = True
            if self._error is not None:
                raise self._error
            return None
        assert isinstance(item, WebcamFrame)
        return item

    def __enter__(self) -> WebcamSource:
        return self

    def close(self) -> None:
        """Stop the capture thread, release the camera or file and the landmarker."""
        if self._stop.is_set():
            return
        self._stop.set()
        while self._thread.is_alive():
            self._drain()
            self._thread.join(timeout=0.05)
        self._video.close()
        self._tracker.close()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _put(self, item: object) -> None:
        if self._video.spec.is_device and item is not _END:
            while not self._stop.is_set():  # a camera keeps the newest frames: drop the oldest
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    self._drain_one()
            return
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _drain_one(self) -> None:
        try:
            self._queue.get_nowait()
        except queue.Empty:
            pass

    def _run(self) -> None:
        start_ns = self._clock.now_ns()
        try:
            for frame in self._video.frames():
                if self._stop.is_set():
                    break
                if self.config.realtime and not self._video.spec.is_device:
                    delay_ns = start_ns + int(frame.time_s * 1e9) - self._clock.now_ns()
                    if delay_ns > 0 and self._clock.wait_ns(self._stop, delay_ns):
                        break
                # Camera frames are stamped on arrival; file frames at their place in the video's timeline (the
                # presentation time PyAV hands us, kept as the file's own clock).
                capture_us = (self._clock.now_ns() if self._video.spec.is_device
                              else start_ns + int(frame.time_s * 1e9)) // 1000
                with self._lock:
                    tracked = self._tracker.process(frame.rgb, frame.time_s, capture_us)
                self._put(WebcamFrame(frame.index, frame.time_s, frame.rgb, tracked.sample, tracked.observation))
        except Exception as exc:  # CameraError and the unexpected: surfaced to the reader, not lost on a thread
            self._error = exc
        finally:
            self._put(_END)


def open_webcam_source(spec: str, config: WebcamConfig | None = None) -> WebcamSource:
    """Open `webcam[:DEVICE|FILE]` as a WebcamSource. One-line CodecavErrors: SourceSpecError (bad spec),
    WebcamExtraError (`pip install 'codecav[webcam]'`), LandmarkerModelError (model not installed),
    CameraError (no camera / unreadable file)."""
    config = config or WebcamConfig()
    parsed = parse_webcam_spec(spec)
    import_mediapipe()
    model = load_landmarker_model()
    video = VideoInput(parsed, config.camera)
    try:
        tracker = WebcamTracker(config.tracker, FaceLandmarker(config.tracker.landmarker, model))
    except BaseException:
        video.close()
        raise
    return WebcamSource(video, tracker, config)
