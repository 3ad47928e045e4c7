"""MediaPipe -> codecav mappings: blendshape order, head pose (cm -> m, quaternions), confidence heuristics."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.camera import pose_matrix
from codecav.encoders.webcam.mapping import (
    KNOWN,
    LEFT_IRIS,
    MEDIAPIPE_BLENDSHAPES,
    RIGHT_IRIS,
    ConfidenceModel,
    arkit_from_blendshapes,
    head_angles,
    head_pose_from_transform,
    rotation_to_quaternion,
)

N = len(ARKIT_52)


def test_mediapipe_order_maps_to_arkit() -> None:
    """MediaPipe's head emits `_neutral` then the ARKit names but tongueOut: score k lands on ARKit k-1."""
    assert len(MEDIAPIPE_BLENDSHAPES) == 52 and MEDIAPIPE_BLENDSHAPES[0] == "_neutral"
    scores = np.linspace(0.01, 0.99, 52)
    w = arkit_from_blendshapes(MEDIAPIPE_BLENDSHAPES, scores)
    assert w.dtype == np.float32 and w.shape == (N,)
    assert np.allclose(w[:51], scores[1:])
    assert w[ARKIT_INDEX["tongueOut"]] == 0.0
    assert KNOWN[ARKIT_INDEX["tongueOut"]] == 0 and KNOWN.sum() == 51


def test_mapping_is_by_name_and_clipped() -> None:
    w = arkit_from_blendshapes(["jawOpen", "_neutral", "someFutureShape", "eyeBlinkRight"], [1.3, 0.9, 0.5, -0.1])
    assert w[ARKIT_INDEX["jawOpen"]] == 1.0 and w[ARKIT_INDEX["eyeBlinkRight"]] == 0.0
    assert np.count_nonzero(w) == 1
    with pytest.raises(ValueError):
        arkit_from_blendshapes(["jawOpen"], [0.1, 0.2])


def _random_quaternions(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    q = rng.standard_normal((count, 4))
    special = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0.7071, 0, 0.7071, 1e-4]])  # ~180 degrees
    q = np.concatenate([q, special])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quaternion_roundtrip_through_pose_matrix() -> None:
    for q in _random_quaternions(200):
        m = pose_matrix(np.zeros(3), q)
        back = rotation_to_quaternion(m[:3, :3])
        assert back[3] >= 0
        assert abs(float(np.dot(back, q))) == pytest.approx(1.0, abs=1e-5)


def _transform(yaw_deg: float = 0.0, pitch_deg: float = 0.0, t_cm: tuple[float, float, float] = (0, 0, -60)
               ) -> np.ndarray:
    """MediaPipe-style face->camera matrix: yaw about +y (face turning to its left), then pitch about -x (up)."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    m = np.eye(4)
    m[:3, :3] = ry @ rx.T  # rx.T tips the face's +z up for positive pitch
    m[:3, 3] = t_cm
    return m.astype(np.float32)


def test_head_pose_is_in_metres_and_relative_to_origin() -> None:
    m = _transform(20.0, 0.0, (5.0, -3.0, -60.0))
    pose = head_pose_from_transform(m)
    assert np.allclose(pose.position, [0.05, -0.03, -0.60])
    assert np.allclose(pose_matrix(pose.position, pose.orientation)[:3, :3], m[:3, :3], atol=1e-5)
    relative = head_pose_from_transform(m, origin_m=np.array([0.05, -0.03, -0.55]))
    assert np.allclose(relative.position, [0.0, 0.0, -0.05], atol=1e-6)
    facing = head_pose_from_transform(_transform())
    assert np.allclose(facing.orientation, [0, 0, 0, 1])


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (30.0, 0.0), (-45.0, 10.0), (10.0, -25.0)])
def test_head_angles(yaw: float, pitch: float) -> None:
    got = head_angles(_transform(yaw, pitch))
    assert got == pytest.approx((yaw, pitch), abs=1e-3)


def _landmarks(iris_px: float, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    lm = np.full((478, 3), 0.5, np.float32)
    lm[LEFT_IRIS, 0] = 0.5 + iris_px / 2 / size[0]
    lm[RIGHT_IRIS, 0] = 0.5 - iris_px / 2 / size[0]
    return lm


def test_confidence_frontal_large_face_is_full() -> None:
    conf = ConfidenceModel().confidence(_transform(), _landmarks(60), (640, 480), np.zeros(N, np.float32))
    assert conf.dtype == np.float32 and conf.shape == (N,)
    assert np.allclose(conf, KNOWN)


def test_confidence_small_face_is_zero_and_middle_sizes_in_between() -> None:
    model = ConfidenceModel()
    zero = model.confidence(_transform(), _landmarks(6), (640, 480), np.zeros(N, np.float32))
    mid = model.confidence(_transform(), _landmarks(19), (640, 480), np.zeros(N, np.float32))
    assert zero.max() == 0.0
    assert 0.2 < mid[ARKIT_INDEX["jawOpen"]] < 0.8


def test_confidence_side_turned_away_drops() -> None:
    """Yaw +55 degrees turns the face's left side away: its Left weights fade, its Right weights stay."""
    conf = ConfidenceModel().confidence(_transform(55.0), _landmarks(60), (640, 480), np.zeros(N, np.float32))
    assert conf[ARKIT_INDEX["mouthSmileLeft"]] < 0.1
    assert conf[ARKIT_INDEX["mouthSmileRight"]] == pytest.approx(1.0)
    assert 0.2 < conf[ARKIT_INDEX["jawOpen"]] < 1.0
    mirrored = ConfidenceModel().confidence(_transform(-55.0), _landmarks(60), (640, 480), np.zeros(N, np.float32))
    assert mirrored[ARKIT_INDEX["mouthSmileRight"]] == pytest.approx(conf[ARKIT_INDEX["mouthSmileLeft"]])


def test_closed_eye_says_nothing_about_its_gaze() -> None:
    w = np.zeros(N, np.float32)
    w[ARKIT_INDEX["eyeBlinkLeft"]] = 1.0
    conf = ConfidenceModel().confidence(_transform(), _landmarks(60), (640, 480), w)
    for d in ("In", "Out", "Up", "Down"):
        assert conf[ARKIT_INDEX[f"eyeLook{d}Left"]] == 0.0
        assert conf[ARKIT_INDEX[f"eyeLook{d}Right"]] == 1.0
    assert conf[ARKIT_INDEX["eyeBlinkLeft"]] == 1.0  # the blink itself is well seen
