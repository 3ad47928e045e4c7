"""The webcam driver's per-frame work, without threads or I/O: landmarker -> ARKit-52 weights -> neutral-face
calibration -> One-Euro smoothing (eyes, face and head pose tuned apart) -> an ExpressionSample with head
pose, gaze and per-weight confidence. WebcamSource runs it on a capture thread; benchmarks call it directly."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.encoders.base import ExpressionSample
from codecav.encoders.gaze import weights_to_gaze
from codecav.encoders.webcam.calibration import NeutralCalibrator, NeutralFace
from codecav.encoders.webcam.filter import OneEuroFilter, OneEuroParams
from codecav.encoders.webcam.landmarker import FaceLandmarker, FaceObservation, LandmarkerOptions
from codecav.encoders.webcam.mapping import CM_PER_M, ConfidenceModel, head_pose_from_transform
from codecav.latent import HeadPose

EYE_CHANNELS: np.ndarray = np.array([name.startswith("eye") for name in ARKIT_52])
"""bool [52]: weights smoothed with the eye parameters (eyeBlink, eyeLook, eyeSquint, eyeWide)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of the webcam driver's per-frame processing."""

    face_filter: OneEuroParams = field(default_factory=lambda: OneEuroParams(min_cutoff=1.5, beta=3.0))
    """One-Euro parameters of the non-eye weights (brows, cheeks, nose, jaw, mouth)."""
    eye_filter: OneEuroParams = field(default_factory=lambda: OneEuroParams(min_cutoff=4.0, beta=10.0))
    """One-Euro parameters of the eye weights: blinks last ~100-150 ms, so they need a higher cutoff."""
    pose_filter: OneEuroParams = field(default_factory=lambda: OneEuroParams(min_cutoff=1.0, beta=2.0))
    """One-Euro parameters of head position (metres) and orientation (quaternion components)."""
    calibration_frames: int = 30
    """Tracked frames of a relaxed face measured as the user's neutral at start; 0 turns auto-calibration off."""
    neutral: NeutralFace | None = None
    """A saved calibration to use from the first frame (auto-calibration is then skipped)."""
    confidence: ConfidenceModel = field(default_factory=ConfidenceModel)
    """How detection geometry maps to per-weight confidence."""
    landmarker: LandmarkerOptions = field(default_factory=LandmarkerOptions)
    """MediaPipe detection thresholds."""

    def __post_init__(self) -> None:
        if self.calibration_frames < 0:
            raise ValueError(f"TrackerConfig.calibration_frames must be >= 0, got {self.calibration_frames}")


@dataclass(frozen=True)
class TrackedFrame:
    """The driver's result for one video frame."""

    sample: ExpressionSample
    """Calibrated, smoothed weights with confidence (all 0 when no face: the caller flags TRACKING_LOST),
    head pose and gaze (None when no face)."""
    observation: FaceObservation | None
    """The landmarker's raw output, None when no face was found."""


class WebcamTracker:
    """Turns RGB frames into ExpressionSamples; not thread-safe (one capture thread owns it)."""

    def __init__(self, config: TrackerConfig | None = None, landmarker: FaceLandmarker | None = None) -> None:
        """Use `landmarker`, or load MediaPipe's with `config.landmarker` thresholds."""
        self.config = config or TrackerConfig()
        self._landmarker = landmarker or FaceLandmarker(self.config.landmarker)
        params = [self.config.eye_filter if eye else self.config.face_filter for eye in EYE_CHANNELS]
        self._weight_filter = OneEuroFilter(params, len(ARKIT_52))
        self._pose_filter = OneEuroFilter(self.config.pose_filter, 7)
        self._neutral = self.config.neutral
        frames = self.config.calibration_frames
        self._calibrator = NeutralCalibrator(frames) if frames and self._neutral is None else None
        self._held = np.zeros(len(ARKIT_52), np.float32)
        self._last_quat: np.ndarray | None = None

    @property
    def neutral(self) -> NeutralFace | None:
        """The calibration in use, None before one is measured or given."""
        return self._neutral

    @property
    def calibrating(self) -> bool:
        """True while frames are being collected for a neutral-face calibration."""
        return self._calibrator is not None

    def calibrate(self, frames: int | None = None) -> None:
        """Measure the neutral face again over the next `frames` tracked frames (default: the config's, or 30);
        the current calibration stays in use until the new one is complete."""
        count = frames or self.config.calibration_frames or 30
        self._calibrator = NeutralCalibrator(count)

    def set_neutral(self, neutral: NeutralFace | None) -> None:
        """Use `neutral` from now on (None: raw weights), ending any calibration in progress."""
        self._neutral, self._calibrator = neutral, None

    def process(self, rgb: np.ndarray, time_s: float, capture_time_us: int) -> TrackedFrame:
        """Track one frame seen at `time_s` (seconds, increasing) and captured at `capture_time_us`."""
        return self.update(self._landmarker.detect(rgb, time_s), time_s, capture_time_us)

    def update(self, observation: FaceObservation | None, time_s: float, capture_time_us: int) -> TrackedFrame:
        """The driver's work after the landmarker: calibrate, smooth and score one observation (None: no face)."""
        if observation is None:
            self._weight_filter.reset()
            self._pose_filter.reset()
            self._last_quat = None
            zeros = np.zeros(len(ARKIT_52), np.float32)
            return TrackedFrame(ExpressionSample(capture_time_us, self._held.copy(), zeros), None)
        raw = observation.blendshapes
        position_m = observation.transform[:3, 3].astype(np.float64) / CM_PER_M
        if self._calibrator is not None:
            measured = self._calibrator.add(raw, position_m)
            if measured is not None:
                self._neutral, self._calibrator = measured, None
        calibrated = raw if self._neutral is None else self._neutral.apply(raw)
        weights = np.clip(self._weight_filter(calibrated, time_s), 0.0, 1.0).astype(np.float32)
        self._held = weights
        head_pose = self._smoothed_pose(observation, time_s)
        confidence = self.config.confidence.confidence(observation.transform, observation.landmarks,
                                                       observation.image_size, weights)
        sample = ExpressionSample(capture_time_us, weights, confidence, head_pose, weights_to_gaze(weights))
        return TrackedFrame(sample, observation)

    def _smoothed_pose(self, observation: FaceObservation, time_s: float) -> HeadPose:
        pose = head_pose_from_transform(observation.transform)
        quat = pose.orientation.astype(np.float64)
        if self._last_quat is not None and float(np.dot(quat, self._last_quat)) < 0:
            quat = -quat  # q and -q are one rotation; keep the filter on one hemisphere
        smoothed = self._pose_filter(np.concatenate([pose.position, quat]), time_s)
        quat = smoothed[3:] / max(float(np.linalg.norm(smoothed[3:])), 1e-9)
        self._last_quat = quat
        position = smoothed[:3] - (self._neutral.head_position if self._neutral is not None else 0.0)
        return HeadPose(position.astype(np.float32), quat.astype(np.float32))

    def close(self) -> None:
        """Release the landmarker."""
        self._landmarker.close()
