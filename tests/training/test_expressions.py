"""Expression sampling, blinks, gaze and espeak-ng visemes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.training.studio.expressions import (
    blink_sequence,
    gaze_sequence,
    gaze_weights,
    random_expression,
    random_sequence,
    speech_sequence,
)
from codecav.training.studio.speech import phoneme_viseme


def test_random_expressions_sparse_and_in_range() -> None:
    rng = np.random.default_rng(0)
    seq = random_sequence(200, rng)
    assert seq.weights.shape == (200, 52) and seq.weights.dtype == np.float32
    assert seq.weights.min() >= 0 and seq.weights.max() <= 1
    assert np.median((seq.weights > 0).sum(axis=1)) <= 10
    w = np.stack([random_expression(np.random.default_rng(i)) for i in range(300)])
    both = (w[:, ARKIT_INDEX["mouthSmileLeft"]] > 0) & (w[:, ARKIT_INDEX["mouthSmileRight"]] > 0)
    either = (w[:, ARKIT_INDEX["mouthSmileLeft"]] > 0) | (w[:, ARKIT_INDEX["mouthSmileRight"]] > 0)
    assert both.sum() > 0.5 * either.sum()  # symmetric bias


def test_blinks_and_gaze() -> None:
    blink = blink_sequence(90, np.random.default_rng(1)).weights
    assert blink[:, ARKIT_INDEX["eyeBlinkLeft"]].max() > 0.9
    assert blink[0, ARKIT_INDEX["eyeBlinkLeft"]] < 0.1
    gaze = gaze_sequence(60, np.random.default_rng(1)).weights
    assert gaze.shape == (60, 52) and gaze.max() <= 1
    left = gaze_weights(0.5, 0.0)
    assert left[ARKIT_INDEX["eyeLookOutLeft"]] == 0.5 and left[ARKIT_INDEX["eyeLookInRight"]] == 0.5


def test_phoneme_visemes() -> None:
    assert phoneme_viseme("p") == "PP" and phoneme_viseme("aU") == "aa" and phoneme_viseme("_:") == "sil"
    assert phoneme_viseme("tS") == "CH" and phoneme_viseme("u:") == "U"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_speech_sequence_opens_and_closes_the_mouth() -> None:
    seq = speech_sequence(0)
    jaw = seq.weights[:, ARKIT_INDEX["jawOpen"]]
    assert 40 < len(jaw) < 200  # about 2.6 s at 30 fps
    assert jaw.max() > 0.25 and jaw.min() < 0.05
    assert seq.audio is not None and seq.sample_rate > 8000
    assert abs(len(seq.audio) / seq.sample_rate - len(jaw) / 30) < 0.1
