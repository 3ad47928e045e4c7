"""Fixtures of the encoder tests: a synthetic avatar with a (random linear) expression encoder."""

from __future__ import annotations

import pytest

from codecav.assets.package import AvatarPackage
from codecav.assets.synthetic import build_synthetic_avatar


@pytest.fixture(scope="session")
def driven_avatar() -> AvatarPackage:
    """build_synthetic_avatar(3) with encoders/expression.onnx; tests must not modify its arrays."""
    return build_synthetic_avatar(3, expression_encoder=True)
