"""Neutral-face calibration: rest reads 0, full activation still reads 1, robust to a blink, saved as JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.webcam.calibration import (
    MAX_NEUTRAL,
    CalibrationFileError,
    NeutralCalibrator,
    NeutralFace,
)

N = len(ARKIT_52)


def _face(values: dict[str, float]) -> NeutralFace:
    w = np.zeros(N, np.float32)
    for name, v in values.items():
        w[ARKIT_INDEX[name]] = v
    return NeutralFace(w, np.array([0.01, -0.02, -0.6], np.float32), 30)


def test_apply_removes_rest_and_keeps_full_range() -> None:
    face = _face({"mouthSmileLeft": 0.4, "eyeSquintLeft": 0.2})
    w = np.zeros(N, np.float32)
    w[ARKIT_INDEX["mouthSmileLeft"]] = 0.4
    assert face.apply(w)[ARKIT_INDEX["mouthSmileLeft"]] == pytest.approx(0.0)
    w[ARKIT_INDEX["mouthSmileLeft"]] = 1.0
    w[ARKIT_INDEX["eyeSquintLeft"]] = 0.6
    out = face.apply(w)
    assert out[ARKIT_INDEX["mouthSmileLeft"]] == pytest.approx(1.0)
    assert out[ARKIT_INDEX["eyeSquintLeft"]] == pytest.approx(0.5)
    w[ARKIT_INDEX["eyeSquintLeft"]] = 0.1  # below rest clips to 0
    assert face.apply(w)[ARKIT_INDEX["eyeSquintLeft"]] == 0.0
    assert out.dtype == np.float32


def test_calibrator_takes_the_median_and_ignores_a_blink() -> None:
    cal = NeutralCalibrator(5)
    rest = np.zeros(N, np.float32)
    rest[ARKIT_INDEX["mouthSmileRight"]] = 0.3
    result = None
    for k in range(5):
        w = rest.copy()
        if k == 2:
            w[ARKIT_INDEX["eyeBlinkLeft"]] = 1.0  # a blink while calibrating
        w[ARKIT_INDEX["tongueOut"]] = 1.0
        result = cal.add(w, np.array([0.0, 0.0, -0.5 - 0.01 * k]))
        assert (result is None) == (k < 4)
    assert result is not None and result.frames == 5
    assert result.weights[ARKIT_INDEX["mouthSmileRight"]] == pytest.approx(0.3)
    assert result.weights[ARKIT_INDEX["eyeBlinkLeft"]] == 0.0
    assert result.weights[ARKIT_INDEX["tongueOut"]] == 0.0
    assert result.head_position[2] == pytest.approx(-0.52)
    assert cal.collected == 0  # ready for a later recalibration


def test_rest_is_capped() -> None:
    cal = NeutralCalibrator(1)
    face = cal.add(np.ones(N, np.float32), np.zeros(3))
    assert face is not None and face.weights.max() == pytest.approx(MAX_NEUTRAL)
    assert np.isfinite(face.apply(np.ones(N, np.float32))).all()


def test_save_load_roundtrip(tmp_path: Path) -> None:
    face = _face({"browInnerUp": 0.25, "jawOpen": 0.05})
    face.save(tmp_path / "neutral.json")
    back = NeutralFace.load(tmp_path / "neutral.json")
    assert np.allclose(back.weights, face.weights) and np.allclose(back.head_position, face.head_position)
    assert back.frames == 30


@pytest.mark.parametrize("text, detail", [
    ("not json", "malformed"),
    ('{"format": "other"}', "not 'codecav-neutral-face/1'"),
    ('{"format": "codecav-neutral-face/1", "frames": 3, "head_position_m": [0, 0, 0], "weights": {"nope": 1}}',
     "nope"),
])
def test_bad_files_raise_one_line(tmp_path: Path, text: str, detail: str) -> None:
    path = tmp_path / "neutral.json"
    path.write_text(text)
    with pytest.raises(CalibrationFileError, match="calibrate again") as info:
        NeutralFace.load(path)
    assert detail in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CalibrationFileError, match="no calibration file"):
        NeutralFace.load(tmp_path / "missing.json")
