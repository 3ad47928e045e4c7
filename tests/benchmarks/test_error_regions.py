"""benchmarks/error_regions.py's region masks on a drawn image: the head is what is not the studio background, the
eyes are the dark blobs in the eye band (on light and dark skin), the silhouette the 2 px inside the outline."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benchmarks import load_benchmark

BACKGROUND = 26


def _face(skin: int) -> tuple[np.ndarray, np.ndarray]:
    """A 100 x 80 image: an elliptic head of grey `skin` on the background, two dark 4 x 6 eyes at 40 % height."""
    yy, xx = np.mgrid[0:100, 0:80]
    head = ((yy - 50) / 45.0) ** 2 + ((xx - 40) / 30.0) ** 2 <= 1.0
    image = np.full((100, 80, 3), BACKGROUND, np.uint8)
    image[head] = skin
    eyes = np.zeros_like(head)
    for x0 in (26, 48):
        eyes[38:42, x0:x0 + 6] = True
    image[eyes] = skin // 4
    return image, eyes


@pytest.mark.parametrize("skin", [200, 90])
def test_regions_find_the_head_the_eyes_and_the_outline(skin: int) -> None:
    module = load_benchmark("error_regions")
    image, drawn_eyes = _face(skin)
    head, eyes, edge = module.regions(image)
    assert head.sum() == (np.abs(image.astype(int) - BACKGROUND).sum(axis=2) > 0).sum()
    assert (eyes & drawn_eyes).sum() == drawn_eyes.sum()  # every eye pixel, grown by 2 px and no further
    assert not (eyes & ~module.grow(drawn_eyes, 2)).any() and not (eyes & ~head).any()
    assert edge.any() and not (edge & ~head).any()
    assert not edge[50, 40] and edge[50, 10 + 1]  # the centre is not outline; a pixel next to the left edge is
