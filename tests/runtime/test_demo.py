"""`codecav demo`: two participant processes call each other over WebRTC on loopback through the built-in
signaling server and the demo writes demo.mp4, trace.json, report.json and report.html with a short summary;
with --xr and no OpenXR runtime it says so in one line and falls back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codecav.runtime.video import probe_video

REPORT_KEYS = ("capture_to_photon_ms", "mouth_to_ear_ms", "frames_rendered", "avatars", "latent_kbps_per_avatar")


@pytest.mark.gl
@pytest.mark.slow
def test_demo_xr_without_runtime_falls_back_then_runs_the_call(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XR_RUNTIME_JSON")}
    proc = subprocess.run([sys.executable, "-m", "codecav", "demo", "--xr", "--seconds", "3", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    [display] = [line for line in lines if "display:" in line]
    assert "OpenXR unavailable" in display and "headless" in display
    assert any(line.strip().startswith("live: ") for line in lines)
    # Both participants joined, saw each other's verified avatar and finished.
    for me, other in (("alice", "bob"), ("bob", "alice")):
        assert any(line.startswith(f"  {me}: {other} is here with avatar") for line in lines)
        assert any(line.startswith(f"  {me}: done: ") for line in lines)
    summary = lines[-5:]
    assert summary[0].startswith("call: alice and bob") and summary[1].startswith("capture-to-photon: p50")
    assert summary[-1].startswith("wrote ")
    report = json.loads((tmp_path / "report.json").read_text())
    assert all(key in report for key in REPORT_KEYS)
    assert report["avatars"] == 2 and report["frames_rendered"] > 20
    c2p = report["capture_to_photon_ms"]
    assert c2p["count"] > 10 and 0 < c2p["p50"] <= c2p["p99"] < 3000
    assert report["latent_kbps_per_avatar"] > 1
    trace = json.loads((tmp_path / "trace.json").read_text())
    names = {e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "process_name"}
    assert names == {"alice", "bob"}
    assert {"decode", "render", "receive", "send"} <= {e["name"] for e in trace["traceEvents"] if e["ph"] == "X"}
    frames, width, height, _has_audio = probe_video(tmp_path / "demo.mp4")
    assert frames > 20 and width == 2 * height
    assert "<img" in (tmp_path / "report.html").read_text()
