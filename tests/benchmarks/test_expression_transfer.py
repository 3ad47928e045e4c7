"""The pure pieces of benchmarks/expression_transfer.py (correlation, undefined channels, the JSON keys) and of
drivers.py's lipsync_jaw_corr_real (alignment of the webcam's and the audio driver's jawOpen); no video, no GL."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def et() -> ModuleType:
    return load_benchmark("expression_transfer")


def test_correlate_defined_and_undefined(et: ModuleType) -> None:
    x = np.sin(np.linspace(0, 6, 50)) * 0.3 + 0.3
    assert et.correlate(x, 0.5 * x + 0.1).value == pytest.approx(1.0)
    assert et.correlate(x, 1 - x).value == pytest.approx(-1.0)
    flat = et.correlate(np.full(50, 0.2) + 1e-4 * x, x)  # barely moves in the source
    assert flat.value is None and "barely moves" in flat.note
    still = et.correlate(x, np.full(50, 0.4))  # source moves, avatar never does: no transfer
    assert still.value == 0.0 and "constant" in still.note
    assert et.correlate(x[:2], x[:2]).value is None
    bad = x.copy()
    bad[3] = np.nan
    assert et.correlate(bad, x).value is None
    with pytest.raises(ValueError):
        et.correlate(x, x[:10])


def test_transfer_scores_keys_and_null_never_nan(et: ModuleType) -> None:
    rng = np.random.default_rng(0)
    n = 200
    source = np.zeros((n, 52))
    source[:, ARKIT_INDEX["jawOpen"]] = rng.uniform(0, 0.6, n)
    source[:, ARKIT_INDEX["mouthSmileLeft"]] = rng.uniform(0, 0.5, n)
    source[:, ARKIT_INDEX["mouthSmileRight"]] = 0.05  # this side barely moves
    source[:, ARKIT_INDEX["eyeBlinkLeft"]] = source[:, ARKIT_INDEX["eyeBlinkRight"]] = 0.1  # no blink at all
    avatar = source * 0.5 + 0.02
    avatar[:, ARKIT_INDEX["jawOpen"]] = 1 - source[:, ARKIT_INDEX["jawOpen"]]  # opens when the source closes
    scores, notes = et.transfer_scores(source, avatar)
    assert list(scores) == ["transfer_corr_jawOpen", "transfer_corr_mouthSmile", "transfer_corr_eyeBlink",
                            "transfer_corr_mean"]
    assert scores["transfer_corr_jawOpen"] == pytest.approx(-1.0)
    assert scores["transfer_corr_mouthSmile"] == pytest.approx(1.0)  # the moving side only
    assert scores["transfer_corr_eyeBlink"] is None
    assert scores["transfer_corr_mean"] == pytest.approx(0.0)  # over the two defined channels
    assert any("eyeBlinkLeft" in n and "undefined" in n for n in notes)
    assert any("from 1 of 2 sides" in n for n in notes)
    json.dumps(scores, allow_nan=False)  # null, never NaN


def test_transfer_scores_all_undefined_is_null(et: ModuleType) -> None:
    scores, notes = et.transfer_scores(np.full((30, 52), 0.1), np.full((30, 52), 0.1))
    assert scores == dict.fromkeys(scores, None) and len(scores) == 4
    assert json.loads(json.dumps(scores, allow_nan=False))["transfer_corr_mean"] is None
    assert notes
    empty, _ = et.transfer_scores(np.zeros((0, 52)), np.zeros((0, 52)))  # no face matched at all
    assert all(v is None for v in empty.values())
    with pytest.raises(ValueError):
        et.transfer_scores(np.zeros((5, 52)), np.zeros((4, 52)))


def test_channel_table_has_a_row_per_weight(et: ModuleType) -> None:
    x = np.random.default_rng(1).uniform(0, 1, (40, 52))
    lines = et.channel_table(x, x, np.zeros_like(x))
    assert len(lines) == 6 and lines[1].startswith("jawOpen")
    assert not any("nan" in line for line in lines)


def test_real_speech_jaw_correlation_aligns_in_time() -> None:
    drivers = load_benchmark("drivers")
    audio_t = np.arange(0, 10, 0.01)  # the audio driver's 100 Hz samples
    audio_jaw = 0.3 + 0.3 * np.sin(audio_t * 3)
    video_t = np.arange(0, 12, 0.04)  # 25 fps frames, the last 2 s past the sound
    corr, note = drivers.jaw_correlation(video_t, 0.3 + 0.3 * np.sin(video_t * 3), audio_t, audio_jaw)
    assert note is None and corr == pytest.approx(1.0, abs=1e-4)
    lagged, _ = drivers.jaw_correlation(video_t, 0.3 + 0.3 * np.sin((video_t - 0.5) * 3), audio_t, audio_jaw)
    assert lagged is not None and lagged < 0.95
    corr, note = drivers.jaw_correlation(video_t, np.full(len(video_t), 0.01), audio_t, audio_jaw)
    assert corr is None and "webcam" in note
    corr, note = drivers.jaw_correlation(video_t + 100, video_t, audio_t, audio_jaw)  # no overlap
    assert corr is None and "overlap" in note
