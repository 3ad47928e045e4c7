"""The sample avatar, drawn by the PiCA GL pass into Monado's swapchains, is where the located views put it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.xr_openxr.session_scenario import AVATAR_CHECK_FRAMES

BBOX_TOLERANCE_PX = 2.0
"""Silhouette edges land within a pixel of the projected vertices; 2 px leaves room for rounding."""


def test_avatar_session_renders_two_views(avatar_session: dict[str, Any]) -> None:
    assert avatar_session["frames_with_two_views"] >= 30
    assert avatar_session["states_running"][:5] == ["IDLE", "READY", "SYNCHRONIZED", "VISIBLE", "FOCUSED"]


@pytest.mark.parametrize("frame", AVATAR_CHECK_FRAMES)
def test_avatar_visible_in_both_eyes_at_the_projected_place(avatar_session: dict[str, Any], frame: int) -> None:
    checks = [c for c in avatar_session["checks"] if c["frame"] == frame]
    assert [c["eye"] for c in checks] == [0, 1]
    for check in checks:
        source = avatar_session["avatar_source"]
        assert check["observed_bbox"] is not None, f"eye {check['eye']}: no avatar pixels ({source})"
        diff = np.abs(np.array(check["observed_bbox"], float) - np.array(check["expected_bbox"]))
        assert diff.max() <= BBOX_TOLERANCE_PX, (check["eye"], check["observed_bbox"], check["expected_bbox"])
        assert check["centre_rgb"] != [0, 255, 0], "the avatar's centre pixel shows the background"
        assert check["corner_rgb"] == [0, 255, 0]
        assert check["scene_pixels"] > 500
    left, right = checks
    assert left["observed_bbox"][0] > right["observed_bbox"][0], "stereo disparity: left eye sees it further right"
