"""Fixtures of the asset tests: one synthetic avatar per session, written fresh into each test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecav.assets.package import AvatarPackage
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.writer import write_avatar


@pytest.fixture(scope="session")
def synthetic() -> AvatarPackage:
    """build_synthetic_avatar(0), shared: tests must not modify its arrays."""
    return build_synthetic_avatar(0)


@pytest.fixture
def package_dir(tmp_path: Path, synthetic: AvatarPackage) -> Path:
    """The synthetic avatar written as a directory package."""
    return write_avatar(synthetic, tmp_path / "ada")


@pytest.fixture
def package_zip(tmp_path: Path, synthetic: AvatarPackage) -> Path:
    """The synthetic avatar written as a .cavatar zip."""
    return write_avatar(synthetic, tmp_path / "ada.cavatar")
