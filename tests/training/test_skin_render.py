"""The ICT head in the scanned skin through the studio renderer (llvmpipe is fine)."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from codecav.training.studio.skin_preview import arkit_weights, view_camera
from codecav.training.studio.skin_render import SkinOptions, make_skin_renderer

pytestmark = pytest.mark.gl

BACKGROUND = np.array([26, 26, 26])


def test_skin_render_smoke(gl_context: moderngl.Context) -> None:
    model, renderer = make_skin_renderer(gl_context, 100, 152, 128)
    try:
        renderer.set_positions(model.positions)
        front = renderer.render(view_camera(0, 0, 100, 152)).image
        side = renderer.render(view_camera(40, 0, 100, 152), unwrap=False).image
        renderer.set_positions(model.posed(arkit_weights({"jawOpen": 1.0})))
        open_jaw = renderer.render(view_camera(0, 0, 100, 152), unwrap=False).image
    finally:
        renderer.release()
    head = np.abs(front.astype(int) - BACKGROUND).sum(axis=2) > 12
    assert 0.25 < head.mean() < 0.8
    cols = np.nonzero(head.any(axis=0))[0]
    assert abs((cols.min() + cols.max()) / 2 - 50) < 6  # centred
    skin = front[head].astype(float).mean(axis=0)
    assert skin[0] > skin[1] > skin[2] and skin[0] > 120  # lit skin, not the old dark heads
    assert np.abs(front.astype(int) - side.astype(int)).mean() > 5  # views differ
    assert np.abs(front.astype(int) - open_jaw.astype(int)).sum(axis=2).max() > 100  # the mouth opens


def test_height_scale_is_validated() -> None:
    with pytest.raises(ValueError, match="height_scale_m"):
        SkinOptions(height_scale_m=0.5)
