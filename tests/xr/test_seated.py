"""The seated origin: runtime HMD poses -> the head pose a call sends (pure geometry, no OpenXR)."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.camera import pose_matrix
from codecav.latent import Gaze
from codecav.xr.seated import (
    SeatedOrigin,
    heading,
    openxr_gaze_to_head,
    openxr_to_head,
    quat_multiply,
    quat_rotate,
    yaw_quat,
)


def pitch_quat(pitch_rad: float) -> np.ndarray:
    return np.array([np.sin(pitch_rad / 2), 0.0, 0.0, np.cos(pitch_rad / 2)])


def forward_in_head_space(orientation: np.ndarray) -> np.ndarray:
    """Where a codecav head with this orientation faces (its +z)."""
    return pose_matrix(np.zeros(3), orientation)[:3, 2]


def test_quaternion_helpers_agree_with_the_rotation_matrix() -> None:
    q = quat_multiply(yaw_quat(0.4), pitch_quat(-0.3))
    v = np.array([0.2, -0.5, 0.9])
    np.testing.assert_allclose(quat_rotate(q, v), pose_matrix(np.zeros(3), q)[:3, :3] @ v, atol=1e-6)


@pytest.mark.parametrize("yaw", [0.0, 0.5, -1.2, 3.0])
def test_heading_is_the_yaw_whatever_the_pitch(yaw: float) -> None:
    assert heading(quat_multiply(yaw_quat(yaw), pitch_quat(0.6))) == pytest.approx(yaw, abs=1e-6)


def test_the_first_pose_is_the_origin_and_sends_identity() -> None:
    seat = SeatedOrigin()
    head = seat.head_pose(np.array([0.3, 1.2, -0.4]), yaw_quat(0.8))
    np.testing.assert_allclose(head.position, 0, atol=1e-6)
    np.testing.assert_allclose(head.orientation, [0, 0, 0, 1], atol=1e-6)
    assert seat.calibrations == 1


def test_turning_left_turns_the_avatar_to_its_left() -> None:
    seat = SeatedOrigin()
    seat.head_pose(np.zeros(3), yaw_quat(0.0))
    head = seat.head_pose(np.zeros(3), yaw_quat(np.radians(30)))
    # The avatar's left is +x in head space: its face turns towards +x.
    facing = forward_in_head_space(head.orientation)
    assert facing[0] == pytest.approx(np.sin(np.radians(30)), abs=1e-6) and facing[2] > 0


def test_nodding_down_turns_the_face_down() -> None:
    seat = SeatedOrigin()
    seat.head_pose(np.zeros(3), yaw_quat(0.0))
    down = pitch_quat(np.radians(-20))  # OpenXR: negative pitch about +x looks down
    assert quat_rotate(down, np.array([0.0, 0.0, -1.0]))[1] < 0
    head = seat.head_pose(np.zeros(3), down)
    assert forward_in_head_space(head.orientation)[1] == pytest.approx(-np.sin(np.radians(20)), abs=1e-6)


def test_poses_are_relative_to_the_seats_position_and_heading_but_not_its_pitch() -> None:
    seat = SeatedOrigin()
    start = quat_multiply(yaw_quat(np.pi / 2), pitch_quat(-0.3))  # seated facing -x, looking a little down
    seat.head_pose(np.array([1.0, 1.1, 2.0]), start)
    # Leaning 10 cm forward (along the seat's heading, -x in the room) is +z (out of the face) in head space.
    head = seat.head_pose(np.array([0.9, 1.1, 2.0]), start)
    np.testing.assert_allclose(head.position, [0, 0, 0.1], atol=1e-6)
    # Pitch stays relative to gravity: the head keeps looking 0.3 rad down.
    assert forward_in_head_space(head.orientation)[1] == pytest.approx(-np.sin(0.3), abs=1e-6)
    # Leaning towards the user's own left (+z in the room, seated facing -x) is the avatar's left, +x in head space.
    left_in_room = quat_rotate(yaw_quat(np.pi / 2), np.array([-1.0, 0.0, 0.0]))
    head = seat.head_pose(np.array([1.0, 1.1, 2.0]) + 0.05 * left_in_room, start)
    np.testing.assert_allclose(head.position, [0.05, 0, 0], atol=1e-6)


def test_recentring_takes_the_next_pose_as_the_origin() -> None:
    seat = SeatedOrigin()
    seat.head_pose(np.zeros(3), yaw_quat(0.0))
    turned = seat.head_pose(np.array([0.2, 0, 0]), yaw_quat(1.0))
    assert abs(turned.orientation[1]) > 0.4
    seat.recentre()
    assert seat.origin is None
    head = seat.head_pose(np.array([0.2, 0, 0]), yaw_quat(1.0))
    np.testing.assert_allclose(head.orientation, [0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(head.position, 0, atol=1e-6)
    assert seat.calibrations == 2


def test_openxr_to_head_is_a_half_turn_and_keeps_one_hemisphere() -> None:
    head = openxr_to_head(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0, -1.0]))
    np.testing.assert_allclose(head.position, [-1, 2, -3])
    np.testing.assert_allclose(head.orientation, [0, 0, 0, 1])


def test_gaze_rays_flip_to_head_space() -> None:
    ahead = np.array([0.0, 0.0, -1.0], np.float32)  # OpenXR: looking straight ahead
    gaze = openxr_gaze_to_head(Gaze(ahead, np.array([-0.6, 0.0, -0.8], np.float32)))
    np.testing.assert_allclose(gaze.left, [0, 0, 1])
    np.testing.assert_allclose(gaze.right, [0.6, 0, 0.8])  # looking to the user's left is +x, the avatar's left
