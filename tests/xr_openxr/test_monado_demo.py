"""`codecav demo --xr` with Monado's simulated headset: alice's side of the call runs in the headset, bob's
headless, and the demo's report covers both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_call_runs_in_the_headset_for_alice(openxr_runtime: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "codecav", "demo", "--xr", "--seconds", "4", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    [display] = [line for line in lines if "display:" in line]
    assert "OpenXR: " in display and "Simulated HMD" in display
    assert "  the call runs in the headset for alice; bob stays headless" in lines
    assert not any(line.strip().startswith("live: ") for line in lines), "no local preview: the call is in the headset"
    [joined] = [line for line in lines if line.startswith("  alice: joined ")]
    assert joined.endswith("; head pose from the headset")
    assert any(line.startswith("  alice: done: ") for line in lines)
    assert any(line.startswith("  bob: done: ") for line in lines)
    log = (tmp_path / "peers" / "alice" / "stderr.log").read_text()
    assert "alice display: OpenXR: " in log
    assert "headset: the session is stopping (the call's time is up)" in log
    assert "headset: the app is hidden" not in log, "the walk down to STOPPING after our own request is no news"
    records = json.loads((tmp_path / "peers" / "alice" / "records.json").read_text())
    # How many depends on the machine: both participants encode clips and render on llvmpipe at once.
    assert records["frames_rendered"] >= 5
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["capture_to_photon_ms"]["count"] > 0
    period_s = 0.05  # Monado's simulated HMD: alice renders at the runtime's 20 Hz, bob at the demo's 30
    rendered_s = (records["end_ns"] - records["start_ns"]) / 1e9
    assert records["frames_rendered"] <= rendered_s / period_s + 2, "more frames than the runtime's display slots"
