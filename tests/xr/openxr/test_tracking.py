"""CPU checks of the gaze/face plumbing: the gaze ray and the ctypes structs handed to XR_FB_face_tracking2."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.xr.openxr.face_tracking import FB_INDEX
from codecav.xr.openxr.tracking import FaceTrackingSource, face_tracker_create_info, gaze_direction

xr = pytest.importorskip("xr", reason="pyopenxr not installed")


def test_gaze_ray_is_minus_z_of_the_pose() -> None:
    np.testing.assert_allclose(gaze_direction(np.array([0, 0, 0, 1.0])), [0, 0, -1], atol=1e-6)
    half = np.deg2rad(90.0) / 2  # turned 90 degrees left about +y: looking down -x
    np.testing.assert_allclose(gaze_direction(np.array([0, np.sin(half), 0, np.cos(half)])), [-1, 0, 0], atol=1e-6)


def test_face_tracker_create_info_requests_the_visual_source() -> None:
    info, sources = face_tracker_create_info()
    assert info.requested_data_source_count == 1
    assert info._requested_data_sources[0] == int(xr.FaceTrackingDataSource2FB.VISUAL) == sources[0]
    assert info._face_expression_set == int(xr.FaceExpressionSet2FB.DEFAULT)


def _fake_get(valid: bool) -> tuple[Any, list[int]]:
    calls: list[int] = []

    def get(tracker: Any, info: Any, out: Any) -> int:
        weights = out.contents
        assert weights.weight_count == 70 and weights.confidence_count == 2
        calls.append(int(info.contents.time))
        weights._weights[FB_INDEX["JAW_DROP"]] = 0.75
        weights._confidences[0], weights._confidences[1] = 0.9, 0.5
        weights.is_valid = int(valid)
        weights.time = info.contents.time
        return 0

    return xr.PFN_xrGetFaceExpressionWeights2FB(get), calls


def test_face_sample_fills_codecav_buffers_and_maps_to_arkit() -> None:
    source = FaceTrackingSource.__new__(FaceTrackingSource)
    get, calls = _fake_get(valid=True)
    source._start(xr.FaceTracker2FB(), get)
    sample = source.sample(123_456)
    assert calls == [123_456]
    assert sample is not None
    assert sample.fb_weights[FB_INDEX["JAW_DROP"]] == pytest.approx(0.75)
    assert sample.arkit[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.75)
    assert (sample.confidence_lower, sample.confidence_upper) == pytest.approx((0.9, 0.5))
    assert sample.time_ns == 123_456


def test_invalid_face_weights_give_none() -> None:
    source = FaceTrackingSource.__new__(FaceTrackingSource)
    get, _ = _fake_get(valid=False)
    source._start(xr.FaceTracker2FB(), get)
    assert source.sample(1) is None
