"""Replay of recorded ARKit-52 weights: an array or a `.npz` expression file (the boundary for OpenXR face
tracking and other trackers that record ARKit names).

File format (`numpy.savez`, no pickles): `weights` float32 [T, 52] in ARKIT_52 order, `fps` float scalar,
optional `confidence` float32 [T, 52] (default 1) and `names` (str [52], checked against ARKIT_52)."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.errors import ClipError, one_line


class ExpressionTrackSource(ExpressionSource):
    """ARKit-52 weights [T, 52] replayed at `fps` as samples timed start + i / fps (never blocks)."""

    name = "expressions"

    def __init__(self, weights: np.ndarray, fps: float, confidence: np.ndarray | None = None,
                 start_time_us: int = 0) -> None:
        """`confidence` [T, 52] or [52] (default all 1)."""
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim != 2 or w.shape[1] != len(ARKIT_52) or fps <= 0:
            raise ValueError(f"weights must be [T, 52] and fps > 0, got {w.shape} at {fps}")
        c = np.ones_like(w) if confidence is None else np.broadcast_to(np.asarray(confidence, np.float32), w.shape)
        self._weights, self._confidence = np.clip(w, 0, 1), c
        self._fps, self._start = fps, start_time_us
        self._next = 0
        self._lock = threading.Lock()

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next sample; None after the last."""
        with self._lock:
            if self._next >= len(self._weights):
                return None
            i = self._next
            self._next += 1
        return ExpressionSample(self._start + int(round(i * 1e6 / self._fps)), self._weights[i].copy(),
                                np.array(self._confidence[i], dtype=np.float32))

    def close(self) -> None:
        """Stop the stream."""
        with self._lock:
            self._next = len(self._weights)


def save_expression_file(path: Path | str, weights: np.ndarray, fps: float,
                         confidence: np.ndarray | None = None) -> Path:
    """Write an expression file (see module docstring); returns its path."""
    out = Path(path)
    arrays: dict[str, np.ndarray] = {"weights": np.asarray(weights, np.float32), "fps": np.array(fps, np.float32),
                                     "names": np.array(ARKIT_52)}
    if confidence is not None:
        arrays["confidence"] = np.asarray(confidence, np.float32)
    with out.open("wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]  # numpy's stub rejects ** of a dict
    return out


def open_expression_file(path: Path | str) -> ExpressionTrackSource:
    """An ExpressionTrackSource replaying the file; ClipError (one line, with the fix) if it is unusable."""
    p = Path(path)
    fix = "write it with codecav.encoders.track.save_expression_file"
    if not p.is_file():
        raise ClipError(f"expression file {p} does not exist; check the path")
    try:
        loaded = np.load(p, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with loaded as data:
            weights = np.asarray(data["weights"], np.float32)
            fps = float(data["fps"])
            confidence = np.asarray(data["confidence"], np.float32) if "confidence" in data else None
            names = [str(n) for n in data["names"]] if "names" in data else list(ARKIT_52)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ClipError(f"expression file {p} is not a readable .npz with 'weights' and 'fps' "
                        f"({one_line(exc)[:120]}); {fix}") from None
    if names != list(ARKIT_52):
        raise ClipError(f"expression file {p} names are not ARKit-52 in alphabetical order; {fix}")
    if weights.ndim != 2 or weights.shape[1] != len(ARKIT_52) or not np.isfinite(weights).all() or not fps > 0:
        raise ClipError(f"expression file {p} has weights {weights.shape} at {fps} fps, expected finite [T, 52] "
                        f"at fps > 0; {fix}")
    if confidence is not None and confidence.shape != weights.shape:
        raise ClipError(f"expression file {p} confidence {confidence.shape} differs from weights {weights.shape}; "
                        f"{fix}")
    return ExpressionTrackSource(weights, fps, confidence)
