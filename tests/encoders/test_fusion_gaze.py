"""Fusion by region and confidence; gaze geometry against the studio's gaze sequence."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.encoders.base import ExpressionSample
from codecav.encoders.fusion import REGIONS, FusionPolicy, fuse, region_of
from codecav.encoders.gaze import (
    GAZE_WEIGHTS,
    eye_angles,
    eye_direction,
    gaze_to_weights,
    weights_to_gaze,
)
from codecav.latent import Gaze, HeadPose
from codecav.training.studio.expressions import gaze_sequence, gaze_weights


def _sample(values: dict[str, float], conf: float | dict[str, float], t: int = 0, **kw: object) -> ExpressionSample:
    w = np.zeros(52, np.float32)
    for name, v in values.items():
        w[ARKIT_INDEX[name]] = v
    if isinstance(conf, dict):
        c = np.zeros(52, np.float32)
        for name, v in conf.items():
            c[[i for i, n in enumerate(ARKIT_52) if region_of(n) == name]] = v
    else:
        c = np.full(52, conf, np.float32)
    return ExpressionSample(t, w, c, **kw)  # type: ignore[arg-type]


def test_every_weight_has_one_region() -> None:
    assert {region_of(n) for n in ARKIT_52} == set(REGIONS)
    assert region_of("eyeLookInLeft") == "gaze" and region_of("eyeBlinkLeft") == "eyes"
    assert region_of("jawOpen") == "mouth" and region_of("browInnerUp") == "brows"


def test_reliable_mouth_camera_wins_the_mouth_and_audio_takes_over_when_it_fails() -> None:
    hmc = _sample({"jawOpen": 0.2, "browInnerUp": 0.7}, 0.9)
    audio = _sample({"jawOpen": 0.8}, {"mouth": 0.9})
    fused = fuse({"hmc": hmc, "audio": audio})
    # trust x confidence ^ 4: hmc (0.9)^4 vs audio (0.45)^4 -> hmc weight ~0.94
    assert fused.weights[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.2 + 0.6 * (0.45**4) / (0.9**4 + 0.45**4), abs=1e-5)
    assert fused.weights[ARKIT_INDEX["browInnerUp"]] == pytest.approx(0.7)
    unreliable = _sample({"jawOpen": 0.2, "browInnerUp": 0.7}, {"eyes": 0.9, "gaze": 0.9, "brows": 0.9,
                                                                  "cheeks_nose": 0.9, "mouth": 0.1})
    fused = fuse({"hmc": unreliable, "audio": audio})
    assert fused.weights[ARKIT_INDEX["jawOpen"]] > 0.79  # audio's mouth
    assert fused.weights[ARKIT_INDEX["browInnerUp"]] == pytest.approx(0.7)  # audio never touches the brows


def test_gaze_source_drives_the_eyes_and_gaze() -> None:
    g = Gaze(eye_direction(15, -5), eye_direction(12, -5))
    gaze = ExpressionSample(5, gaze_to_weights(g), np.where(np.isin(np.arange(52), GAZE_WEIGHTS), 1.0, 0.0)
                            .astype(np.float32), gaze=g)
    pose = HeadPose(np.array([0, 1.6, 0], np.float32), np.array([0, 0, 0, 1], np.float32))
    hmc = _sample({"eyeLookOutLeft": 0.9, "eyeBlinkLeft": 0.4}, 0.8, t=7, head_pose=pose,
                  gaze=Gaze(eye_direction(0, 0), eye_direction(0, 0)))
    fused = fuse({"hmc": hmc, "gaze": gaze})
    hmc_score = (0.6 * 0.8) ** 4  # hmc trusted 0.6 for gaze, confidence 0.8; the gaze source 1 x 1
    expected = (0.5 + 0.9 * hmc_score) / (1 + hmc_score)  # gaze's 15/30 deg, hmc's 0.9
    assert fused.weights[ARKIT_INDEX["eyeLookOutLeft"]] == pytest.approx(expected, abs=1e-5)
    assert fused.weights[ARKIT_INDEX["eyeBlinkLeft"]] == pytest.approx(0.4)
    assert fused.gaze is g and fused.head_pose is pose and fused.capture_time_us == 7


def test_sharp_policy_chooses_and_flat_policy_averages() -> None:
    a, b = _sample({"jawOpen": 0.0}, 0.8), _sample({"jawOpen": 1.0}, 0.4)
    flat = FusionPolicy(priors={"a": {"mouth": 1.0}, "b": {"mouth": 1.0}}, sharpness=1.0)
    assert fuse({"a": a, "b": b}, flat).weights[ARKIT_INDEX["jawOpen"]] == pytest.approx(1 / 3, abs=1e-6)
    sharp = FusionPolicy(priors=flat.priors, sharpness=20.0)
    assert fuse({"a": a, "b": b}, sharp).weights[ARKIT_INDEX["jawOpen"]] < 1e-5


def test_nothing_known_stays_neutral_with_zero_confidence() -> None:
    fused = fuse({"audio": _sample({"jawOpen": 0.5}, {"mouth": 1.0})})
    eyes = [ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["browInnerUp"]]
    assert np.all(fused.weights[eyes] == 0) and np.all(fused.confidence[eyes] == 0)
    assert fused.confidence[ARKIT_INDEX["jawOpen"]] == 1.0
    empty = fuse({}, capture_time_us=3)
    assert empty.capture_time_us == 3 and not empty.confidence.any()


@pytest.mark.parametrize(("yaw", "pitch"), [(0.0, 0.0), (20.0, 10.0), (-29.0, -24.0), (7.5, -3.0)])
def test_gaze_angles_round_trip(yaw: float, pitch: float) -> None:
    d = eye_direction(yaw, pitch)
    assert np.linalg.norm(d) == pytest.approx(1.0)
    assert eye_angles(d) == pytest.approx((yaw, pitch), abs=1e-4)
    g = Gaze(d, d)
    back = weights_to_gaze(gaze_to_weights(g))
    np.testing.assert_allclose(back.left, d, atol=1e-5)
    np.testing.assert_allclose(back.right, d, atol=1e-5)


def test_gaze_inverts_the_studio_gaze_sequence() -> None:
    seq = gaze_sequence(90, np.random.default_rng(1))
    for w in seq.weights[::7]:
        gaze = weights_to_gaze(w)
        np.testing.assert_allclose(gaze_to_weights(gaze)[list(GAZE_WEIGHTS)], w[list(GAZE_WEIGHTS)], atol=1e-5)
    # the studio's yaw convention: + turns both eyes to the avatar's left (+x)
    gaze = weights_to_gaze(gaze_weights(0.5, 0.0))
    assert gaze.left[0] > 0.2 and gaze.right[0] > 0.2 and eye_angles(gaze.left)[0] == pytest.approx(15.0, abs=1e-4)
