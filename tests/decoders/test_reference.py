"""The NumPy references themselves: sampling, encoding, and the rasterizer on known geometry."""

from __future__ import annotations

import numpy as np

from codecav.assets.package import uv_encoding
from codecav.assets.synthetic.head import head_mesh
from codecav.camera import look_at, perspective
from codecav.decoders.pixel_mlp_reference import bilinear_sample
from codecav.decoders.reference_raster import RasterMesh, rasterize


def test_bilinear_hits_texel_centres_and_clamps() -> None:
    image = np.arange(12, dtype=np.float64).reshape(3, 4, 1)
    centres = np.array([[(1 + 0.5) / 4, (2 + 0.5) / 3], [0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(bilinear_sample(image, centres)[:, 0], [image[2, 1, 0], 0.0, 11.0])
    halfway = np.array([[2 / 4, 0.5 / 3]])  # between columns 1 and 2 of row 0
    np.testing.assert_allclose(bilinear_sample(image, halfway)[0, 0], 1.5)


def test_uv_encoding_order() -> None:
    enc = uv_encoding(np.array([[0.25, 0.5]]), 2)[0]
    expected = [np.sin(np.pi * 0.25), np.sin(np.pi * 0.5), np.cos(np.pi * 0.25), np.cos(np.pi * 0.5),
                np.sin(2 * np.pi * 0.25), np.sin(2 * np.pi * 0.5), np.cos(2 * np.pi * 0.25), np.cos(2 * np.pi * 0.5)]
    np.testing.assert_allclose(enc, expected, atol=1e-12)


def test_rasterizer_square_coverage_and_culling() -> None:
    quad = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]], dtype=np.float64)
    ortho = np.eye(4)  # clip = world: the quad covers the middle half of the viewport
    front = rasterize([RasterMesh(quad, np.array([[0, 1, 2], [0, 2, 3]]), np.eye(4))], ortho, 8, 8)
    assert front.mask.sum() == 16 and front.mask[2:6, 2:6].all()
    back = rasterize([RasterMesh(quad, np.array([[0, 2, 1], [0, 3, 2]]), np.eye(4))], ortho, 8, 8)
    assert not back.mask.any()


def test_rasterizer_perspective_correct_interpolation_recovers_positions() -> None:
    head = head_mesh(16, 24)
    mesh = head.topology
    positions = head.rest[mesh.vertex_index].astype(np.float64)
    eye = np.array([0.05, 0.1, 0.4])
    vp = perspective(40, 1, 0.05, 10).astype(np.float64) @ look_at(eye, np.zeros(3)).astype(np.float64)
    frags = rasterize([RasterMesh(positions, mesh.faces, np.eye(4))], vp, 48, 48)
    points = frags.interpolate(0, positions)
    # Points on the surface project back onto their own pixel centres (true only if perspective-correct).
    clip = (vp @ np.c_[points, np.ones(len(points))].T).T
    ndc = clip[:, :2] / clip[:, 3:4]
    rows, cols = np.nonzero(frags.mask)
    np.testing.assert_allclose((ndc[:, 0] + 1) * 24, cols + 0.5, atol=1e-6)
    np.testing.assert_allclose((1 - ndc[:, 1]) * 24, rows + 0.5, atol=1e-6)
    assert np.all(frags.depth[frags.mask] < 1) and np.all(frags.depth[~frags.mask] == 1)
