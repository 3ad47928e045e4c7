"""Neutral-face calibration: a user's resting face is rarely all zeros to the landmarker (a natural half-smile,
heavy lids); record it once and map each weight so that rest reads 0 while a full expression still reads 1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.errors import DriverError

MAX_NEUTRAL = 0.9
"""Resting weights are capped here so the rescale 1 / (1 - neutral) stays bounded."""


class CalibrationFileError(DriverError):
    """A saved neutral-face calibration file is missing or malformed."""


@dataclass(frozen=True)
class NeutralFace:
    """A user's resting expression and head position, measured over a few frames of a relaxed face."""

    weights: np.ndarray
    """float32 [52] ARKit-52 weights at rest (median over the calibration frames), each in 0..MAX_NEUTRAL."""
    head_position: np.ndarray
    """float32 [3] head position at rest in camera space (metres); reported positions are relative to it."""
    frames: int
    """How many tracked frames it was measured over."""

    def __post_init__(self) -> None:
        if self.weights.shape != (len(ARKIT_52),) or self.head_position.shape != (3,):
            raise ValueError(f"NeutralFace needs weights [52] and head_position [3], got "
                             f"{self.weights.shape} and {self.head_position.shape}")

    def apply(self, weights: np.ndarray) -> np.ndarray:
        """float32 [52]: `weights` with the resting face removed, (w - n) / (1 - n) clipped to 0..1."""
        n = self.weights.astype(np.float64)
        return np.clip((np.asarray(weights, np.float64) - n) / (1.0 - n), 0.0, 1.0).astype(np.float32)

    def to_json(self) -> str:
        """The calibration as a JSON object keyed by blendshape name (for `save`)."""
        return json.dumps({"format": "codecav-neutral-face/1", "frames": self.frames,
                           "head_position_m": [round(float(v), 6) for v in self.head_position],
                           "weights": {n: round(float(w), 6) for n, w in zip(ARKIT_52, self.weights, strict=True)}},
                          indent=1)

    def save(self, path: Path) -> None:
        """Write the calibration as JSON to `path`."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @staticmethod
    def load(path: Path) -> NeutralFace:
        """Read a calibration written by `save`; CalibrationFileError naming the problem otherwise."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != "codecav-neutral-face/1":
                raise ValueError(f"format is {data.get('format')!r}, not 'codecav-neutral-face/1'")
            weights = np.zeros(len(ARKIT_52), np.float32)
            for name, value in data["weights"].items():
                weights[ARKIT_INDEX[name]] = float(value)
            position = np.asarray(data["head_position_m"], np.float32)
            return NeutralFace(np.clip(weights, 0.0, MAX_NEUTRAL), position, int(data["frames"]))
        except FileNotFoundError:
            raise CalibrationFileError(f"no calibration file {path}; calibrate first or drop the option") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            detail = " ".join(str(exc).split())
            raise CalibrationFileError(f"calibration file {path} is malformed ({detail}); "
                                       "delete it and calibrate again") from None


class NeutralCalibrator:
    """Collects the first `frames` tracked frames (or those after `restart()`) and yields a NeutralFace."""

    def __init__(self, frames: int) -> None:
        """`frames` >= 1: how many tracked frames of a relaxed face to measure."""
        if frames < 1:
            raise ValueError(f"NeutralCalibrator needs frames >= 1, got {frames}")
        self.frames = frames
        self._weights: list[np.ndarray] = []
        self._positions: list[np.ndarray] = []

    @property
    def collected(self) -> int:
        """Frames collected so far."""
        return len(self._weights)

    def restart(self, frames: int | None = None) -> None:
        """Drop what was collected and start again (over `frames` frames if given)."""
        if frames is not None:
            if frames < 1:
                raise ValueError(f"NeutralCalibrator needs frames >= 1, got {frames}")
            self.frames = frames
        self._weights.clear()
        self._positions.clear()

    def add(self, weights: np.ndarray, head_position: np.ndarray) -> NeutralFace | None:
        """Add one tracked frame's raw weights [52] and head position [3]; the NeutralFace once enough frames
        are in (the median per channel, robust to a blink during calibration), else None."""
        self._weights.append(np.asarray(weights, np.float32))
        self._positions.append(np.asarray(head_position, np.float32))
        if len(self._weights) < self.frames:
            return None
        rest = np.clip(np.median(np.stack(self._weights), axis=0), 0.0, MAX_NEUTRAL).astype(np.float32)
        rest[ARKIT_INDEX["tongueOut"]] = 0.0
        position = np.median(np.stack(self._positions), axis=0).astype(np.float32)
        face = NeutralFace(rest, position, len(self._weights))
        self.restart()
        return face
