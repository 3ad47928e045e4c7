"""`codecav render` end to end on llvmpipe: scene layout, stereo, errors, and the view direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.writer import write_avatar
from codecav.camera import project_point, rotation_y, translation
from codecav.runtime.render_command import (
    RenderRequest,
    RenderRequestError,
    framed_row,
    framing_distance,
    render_to_png,
    row_width_m,
)
from codecav.runtime.scene import camera_views, row_layout
from codecav.runtime.scene_renderer import head_space_view_dir


def request(tmp_path: Path, **kw: object) -> RenderRequest:
    fields: dict[str, object] = dict(avatar_paths=[], count=2, width=96, height=64, stereo=False, renderer="pica",
                                     out=tmp_path / "r.png")
    fields.update(kw)
    return RenderRequest(**fields)  # type: ignore[arg-type]


def test_head_space_view_dir_follows_the_head_rotation() -> None:
    # A head at x=1 turned 90 degrees to the left (+y yaw) faces +x; a camera at x=2 is straight ahead.
    head = translation(1.0, 0.0, 0.0) @ rotation_y(np.pi / 2)
    direction = head_space_view_dir(head, np.array([2.0, 0.0, 0.0], np.float32))
    np.testing.assert_allclose(direction, [0.0, 0.0, 1.0], atol=1e-6)


def test_row_layout_spaces_heads_along_x() -> None:
    transforms = row_layout(3, spacing=0.4)
    xs = [t[0, 3] for t in transforms]
    assert xs == pytest.approx([-0.4, 0.0, 0.4])


@pytest.mark.gl
def test_render_writes_png_with_each_avatar_visible(tmp_path: Path) -> None:
    avatar = write_avatar(build_synthetic_avatar(seed=3), tmp_path / "a.cavatar")
    result = render_to_png(request(tmp_path, avatar_paths=[avatar], count=3))
    image = np.asarray(Image.open(result.path))
    assert image.shape == (64, 96, 3)
    assert 0.02 < result.covered_fraction < 0.6
    background = image[0, 0].astype(int)
    # Three heads in a row: the left, middle and right thirds each hold avatar pixels.
    differs = np.abs(image.astype(int) - background).sum(axis=2) > 30
    for third in np.array_split(differs, 3, axis=1):
        assert third.any()


@pytest.mark.gl
def test_stereo_writes_both_eyes_side_by_side(tmp_path: Path) -> None:
    result = render_to_png(request(tmp_path, stereo=True, count=1))
    image = np.asarray(Image.open(result.path))
    assert image.shape == (64, 192, 3)
    left, right = image[:, :96], image[:, 96:]
    assert not np.array_equal(left, right)  # the eyes see the head from 63 mm apart


def test_bad_requests_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(RenderRequestError, match=r"use 1\.\.16"):
        render_to_png(request(tmp_path, count=0))
    with pytest.raises(RenderRequestError, match=r"must end in \.png"):
        render_to_png(request(tmp_path, out=tmp_path / "x.jpg"))


def _screen_box(transforms: list[np.ndarray], width: int, height: int, distance: float) -> np.ndarray:
    """[x0, y0, x1, y1] in pixels of the heads' extents (0.25 m wide and tall about their origin)."""
    view = camera_views(width, height, eye=(0.0, 0.0, distance), fovy_deg=35.0)[0]
    corners = [t @ np.array([dx, dy, 0.0, 1.0]) for t in transforms for dx in (-0.125, 0.125) for dy in (-0.125, 0.125)]
    pixels = np.array([project_point(view.projection @ view.view_matrix, c[:3], width, height) for c in corners])
    return np.array([pixels[:, 0].min(), pixels[:, 1].min(), pixels[:, 0].max(), pixels[:, 1].max()])


def test_a_lone_remote_is_framed_centred_and_large_and_five_share_the_view() -> None:
    width, height = 640, 480
    distance = framing_distance(row_width_m(5), 35.0, width / height)  # the call's fixed camera, set for five
    x0, y0, x1, y1 = _screen_box(framed_row(1, distance, 35.0, width / height), width, height, distance)
    assert abs((x0 + x1) / 2 - width / 2) < 2 and abs((y0 + y1) / 2 - height / 2) < 2  # centred
    assert 0.45 * height <= y1 - y0 <= 0.8 * height  # about half the view's height (the issue: ~50 px wide before)
    x0, y0, x1, y1 = _screen_box(framed_row(5, distance, 35.0, width / height), width, height, distance)
    assert x0 > 0 and x1 < width and y1 - y0 < 0.5 * height  # all five inside the view
