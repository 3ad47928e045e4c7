"""CPU parts of the OpenXR target: XrView -> View, frame timing statistics."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.camera import project_point
from codecav.xr.openxr.pose import view_from_pose
from codecav.xr.openxr.timing import FrameTimingRecorder

SIM_FOV = (-0.7418, 0.7418, 0.7784, -0.7784)
"""Monado's simulated HMD: +-42.5 deg horizontally, +-44.6 deg vertically (radians)."""


def test_identity_pose_looks_down_minus_z_with_the_point_ahead_at_the_centre() -> None:
    view = view_from_pose(np.zeros(3), np.array([0, 0, 0, 1.0]), SIM_FOV, 0.05, 100.0, 320, 240)
    np.testing.assert_allclose(view.view_matrix, np.eye(4), atol=1e-6)
    px = project_point(view.projection @ view.view_matrix, np.array([0.0, 0.0, -2.0]), 320, 240)
    np.testing.assert_allclose(px, [160, 120], atol=1e-3)


def test_view_matrix_is_the_inverse_of_the_eye_pose() -> None:
    yaw = np.deg2rad(30.0)  # turned left about +y
    orientation = np.array([0.0, np.sin(yaw / 2), 0.0, np.cos(yaw / 2)])
    position = np.array([0.1, 1.6, 0.3])
    view = view_from_pose(position, orientation, SIM_FOV, 0.05, 100.0, 320, 240)
    np.testing.assert_allclose(view.eye_position, position, atol=1e-5)
    ahead = position + 2.0 * np.array([-np.sin(yaw), 0.0, -np.cos(yaw)])  # the eye's -z in world
    px = project_point(view.projection @ view.view_matrix, ahead, 320, 240)
    np.testing.assert_allclose(px, [160, 120], atol=1e-3)


def test_fov_edges_map_to_the_image_edges() -> None:
    view = view_from_pose(np.zeros(3), np.array([0, 0, 0, 1.0]), SIM_FOV, 0.05, 100.0, 320, 240)
    right_edge = np.array([np.tan(SIM_FOV[1]), 0.0, -1.0])
    top_edge = np.array([0.0, np.tan(SIM_FOV[2]), -1.0])
    vp = view.projection @ view.view_matrix
    assert project_point(vp, right_edge, 320, 240)[0] == pytest.approx(320, abs=1e-3)
    assert project_point(vp, top_edge, 320, 240)[1] == pytest.approx(0, abs=1e-3)


def test_timing_recorder_summarises_durations_and_late_frames() -> None:
    recorder = FrameTimingRecorder(capacity=8)
    assert recorder.stats().frames == 0
    for i in range(10):
        recorder.record(wait_ns=40_000_000, begin_ns=100_000, end_ns=200_000 + i * 1000, frame_ns=5_000_000,
                        period_ns=50_000_000, rendered=i % 2 == 0, late=i == 3)
    stats = recorder.stats()
    assert (stats.frames, stats.rendered_frames, stats.late_frames) == (10, 5, 1)
    assert stats.wait_ms_mean == pytest.approx(40.0)
    assert stats.end_ms_max == pytest.approx(0.209)
    assert stats.predicted_period_ms == pytest.approx(50.0)
    assert "\n" not in stats.summary() and "10 frames (5 rendered, 1 late)" in stats.summary()
