"""open_best_target picks the headset when Monado answers, and says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SELECT = """
import numpy as np
from codecav.camera import look_at, perspective
from codecav.camera import View
from codecav.xr.openxr.target import OpenXRTarget
from codecav.xr.select import open_best_target
views = [View(look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3)), perspective(60.0, 4 / 3, 0.05, 10.0), 64, 48)]
target, note = open_best_target(views, prefer_xr=True)
assert isinstance(target, OpenXRTarget), type(target)
target.close()
print(note)
"""


def test_open_best_target_chooses_openxr_with_a_one_line_note(openxr_runtime: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # EGL: no display needed
    proc = subprocess.run([sys.executable, "-c", _SELECT], capture_output=True, text=True, timeout=60, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    note = proc.stdout.strip()
    assert "\n" not in note
    assert note.startswith(f"OpenXR: {openxr_runtime} via EGL, 320x240 per eye; eye gaze off:"), note
