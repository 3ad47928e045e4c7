"""`codecav demo`: writes its results; with --xr and no OpenXR runtime it says so in one line and falls back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.gl
def test_demo_xr_without_runtime_falls_back_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XR_RUNTIME_JSON")}
    proc = subprocess.run([sys.executable, "-m", "codecav", "demo", "--xr", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    [display] = [line for line in proc.stdout.splitlines() if "display:" in line]
    assert "OpenXR unavailable" in display and "headless" in display
    assert any(line.strip().startswith("live: ") for line in proc.stdout.splitlines())
    for name in ("demo.png", "demo_five_stereo.png", "render.json"):
        assert (tmp_path / name).stat().st_size > 0
    results = json.loads((tmp_path / "render.json").read_text())
    assert [r["avatars"] for r in results] == [3, 5]
    assert all(r["covered_fraction"] > 0.01 for r in results)
