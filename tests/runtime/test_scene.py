"""Scene layouts: the headset room (life size, facing the viewer, seated distance, a table for several)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from codecav.runtime.scene import MIN_SEAT_SPACING_M, SEATED_DISTANCE_M, room_layout


def test_one_remote_sits_across_at_seated_distance_facing_the_viewer() -> None:
    (head,) = room_layout(1)
    np.testing.assert_allclose(head[:3, 3], [0, 0, -SEATED_DISTANCE_M], atol=1e-6)
    np.testing.assert_allclose(head[:3, 2], [0, 0, 1], atol=1e-6)  # its face (+z) towards the viewer


@pytest.mark.parametrize("count", [2, 3, 5, 8])
def test_several_sit_around_a_table_each_facing_the_viewer_life_size(count: int) -> None:
    heads = room_layout(count, eye_height=-0.05)
    assert len(heads) == count
    positions = np.array([h[:3, 3] for h in heads])
    assert np.all(positions[:, 1] == np.float32(-0.05))
    assert np.all(positions[:, 2] < 0), "everyone is in front of the viewer"
    for head in heads:
        np.testing.assert_allclose(head[:3, :3] @ head[:3, :3].T, np.eye(3), atol=1e-6)  # no scale: life size
        towards_viewer = -head[:3, 3] / np.linalg.norm(head[:3, 3])
        np.testing.assert_allclose(head[:3, 2], towards_viewer * [1, 0, 1] / np.linalg.norm(towards_viewer[[0, 2]]),
                                   atol=1e-5)
    gaps = [np.linalg.norm(a - b) for a, b in itertools.combinations(positions, 2)]
    assert min(gaps) >= MIN_SEAT_SPACING_M - 1e-5
    assert positions[0, 0] < 0, "the first seat is on the viewer's left"


@pytest.mark.parametrize("count", [2, 3, 4, 6])
def test_table_seats_lie_on_one_circle_with_the_viewer(count: int) -> None:
    seats = np.array([h[:3, 3] for h in room_layout(count)])[:, [0, 2]]
    # A circle through the viewer (the origin) centred on the viewer's axis at z = c: x^2 + (z - c)^2 = c^2.
    x, z = seats[0]
    c = (x * x + z * z) / (2 * z)
    np.testing.assert_allclose(np.linalg.norm(seats - [0.0, c], axis=1), abs(c), atol=1e-5)
    assert c < 0, "the table is in front of the viewer"


def test_no_remotes_no_seats() -> None:
    assert room_layout(0) == []
