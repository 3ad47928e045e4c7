"""Identities differ, are reproducible, and their albedo paints distinct regions."""

from __future__ import annotations

import numpy as np

from codecav.training.studio.albedo import paint_albedo
from codecav.training.studio.head_model import HeadModel
from codecav.training.studio.identity import identity_shape, make_identity


def test_identities_differ_and_repeat(head_model: HeadModel) -> None:
    shapes = [identity_shape(head_model, make_identity(i)) for i in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            rms = np.sqrt(((shapes[a] - shapes[b]) ** 2).sum(axis=1).mean())
            assert rms > 0.002
    assert make_identity(1) == make_identity(1)
    assert np.array_equal(shapes[1], identity_shape(head_model, make_identity(1)))
    assert make_identity(1) != make_identity(1, seed=5)
    for shape in shapes:  # still a head, still centred left-right and front-back
        centre = (shape.min(axis=0) + shape.max(axis=0)) / 2
        assert abs(centre[0]) < 0.01 and abs(centre[2]) < 0.03


def test_albedo_regions(head_model: HeadModel) -> None:
    person = make_identity(2)
    albedo = paint_albedo(head_model, person, 128)
    assert albedo.shape == (128, 128, 3) and albedo.dtype == np.uint8
    assert albedo.std() > 10
    other = paint_albedo(head_model, make_identity(3), 128)
    assert np.abs(albedo.astype(int) - other.astype(int)).mean() > 5
