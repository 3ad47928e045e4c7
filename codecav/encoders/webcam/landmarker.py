"""MediaPipe FaceLandmarker (VIDEO running mode) behind a small typed wrapper: an RGB frame in, a
FaceObservation (ARKit-52 scores, 4x4 face transform, 478 landmarks) or None out. mediapipe is the optional
`webcam` extra, imported only when a landmarker is made."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from codecav.encoders.errors import DriverError, one_line
from codecav.encoders.webcam.mapping import arkit_from_blendshapes
from codecav.encoders.webcam.model import load_landmarker_model

EXTRA_HINT = "pip install 'codecav[webcam]'"
"""The command that installs the webcam driver's Python dependencies."""
SYSTEM_HINT = "apt-get install libgles2 libegl1 libglib2.0-0"
"""The Debian packages libmediapipe.so and OpenCV load (libGLESv2, libEGL, glib)."""


class WebcamExtraError(DriverError):
    """The optional `webcam` extra (mediapipe) is not installed or cannot load."""


@dataclass(frozen=True)
class FaceObservation:
    """What the landmarker saw of the one face it tracks in one frame (raw, before calibration/filtering)."""

    blendshapes: np.ndarray
    """float32 [52] blendshape scores in ARKIT_52 order, 0..1; tongueOut is always 0 (not estimated)."""
    transform: np.ndarray
    """float32 [4, 4] canonical face -> camera transform, column vectors, centimetres (MediaPipe's units)."""
    landmarks: np.ndarray
    """float32 [478, 3]: x, y normalised to the image (0..1, y down), z relative depth on x's scale."""
    image_size: tuple[int, int]
    """(width, height) of the frame in pixels."""


def import_mediapipe() -> ModuleType:
    """The `mediapipe` module; WebcamExtraError with the install command when the extra is missing."""
    try:
        import mediapipe
    except ImportError as exc:
        if "lib" in str(exc) and ".so" in str(exc):  # cv2 or libmediapipe missing a system library
            raise WebcamExtraError(f"MediaPipe cannot load a system library ({one_line(exc)}); "
                                   f"run: {SYSTEM_HINT}") from None
        raise WebcamExtraError(f"the webcam driver needs MediaPipe ({one_line(exc)}); "
                               f"run: {EXTRA_HINT}") from None
    except OSError as exc:
        raise WebcamExtraError(f"MediaPipe cannot load a system library ({one_line(exc)}); "
                               f"run: {SYSTEM_HINT}") from None
    return mediapipe


@dataclass(frozen=True)
class LandmarkerOptions:
    """Detection thresholds passed to MediaPipe's FaceLandmarker."""

    min_detection_confidence: float = 0.5
    """Score the face detector needs to report a face when no face is being tracked."""
    min_presence_confidence: float = 0.5
    """Face-presence score the landmark model needs to keep a face."""
    min_tracking_confidence: float = 0.5
    """Tracking score below which the detector runs again on the next frame."""


class FaceLandmarker:
    """One MediaPipe FaceLandmarker in VIDEO mode: `detect()` frames in increasing time order."""

    def __init__(self, options: LandmarkerOptions | None = None, model: bytes | None = None) -> None:
        """Load the landmarker from `model` (the bundle's bytes; default: the installed, verified one)."""
        options = options or LandmarkerOptions()
        mp = import_mediapipe()
        model_bytes = load_landmarker_model() if model is None else model
        try:
            from mediapipe.tasks.python import BaseOptions, vision

            self._mp: Any = mp
            self._landmarker: Any = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=model_bytes),
                running_mode=vision.RunningMode.VIDEO, num_faces=1,
                min_face_detection_confidence=options.min_detection_confidence,
                min_face_presence_confidence=options.min_presence_confidence,
                min_tracking_confidence=options.min_tracking_confidence,
                output_face_blendshapes=True, output_facial_transformation_matrixes=True))
        except OSError as exc:  # libmediapipe.so is loaded here; it needs libGLESv2 and libEGL
            raise WebcamExtraError(f"MediaPipe cannot load a system library ({one_line(exc)}); "
                                   f"run: {SYSTEM_HINT}") from None
        except (RuntimeError, ValueError) as exc:
            raise WebcamExtraError(f"MediaPipe cannot start the FaceLandmarker ({one_line(exc)}); "
                                   f"reinstall it: {EXTRA_HINT}") from None
        self._last_ms = -1

    def detect(self, rgb: np.ndarray, time_s: float) -> FaceObservation | None:
        """Track the face in `rgb` (uint8 [H, W, 3]) seen at `time_s` seconds; None when there is no face.
        Timestamps are forced to increase by at least 1 ms, as VIDEO mode requires."""
        if self._landmarker is None:
            raise RuntimeError("FaceLandmarker.detect after close()")
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"FaceLandmarker.detect needs uint8 [H, W, 3] RGB, got {rgb.dtype} {rgb.shape}")
        stamp = max(int(round(time_s * 1000.0)), self._last_ms + 1)
        self._last_ms = stamp
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._landmarker.detect_for_video(image, stamp)
        if not result.face_landmarks or not result.face_blendshapes:
            return None
        categories = result.face_blendshapes[0]
        weights = arkit_from_blendshapes([c.category_name for c in categories], [c.score for c in categories])
        transform = np.asarray(result.facial_transformation_matrixes[0], np.float32).reshape(4, 4)
        landmarks = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[0]], np.float32)
        return FaceObservation(weights, transform, landmarks, (int(rgb.shape[1]), int(rgb.shape[0])))

    def close(self) -> None:
        """Release the landmarker's graph; detect() after close raises."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
