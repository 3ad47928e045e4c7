"""`codecav profile local`: trace.json Perfetto can open (complete events, nested only), report.json, report.html."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecav.cli.main import main


def _properly_nested(events: list[dict[str, float]]) -> bool:
    """On one track, two slices either do not overlap or one contains the other."""
    spans = sorted(((e["ts"], e["ts"] + e["dur"]) for e in events), key=lambda s: (s[0], -s[1]))
    stack: list[float] = []
    for start, end in spans:
        while stack and stack[-1] <= start:
            stack.pop()
        if stack and end > stack[-1] + 1e-3:
            return False
        stack.append(end)
    return True


@pytest.mark.gl
def test_profile_local_writes_trace_report_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prof"
    assert main(["profile", "local", "--seconds", "1.5", "--avatars", "2", "--size", "128x96", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("codecav profile local: 2 avatar(s)") and lines[-1].startswith("wrote ")
    report = json.loads((out / "report.json").read_text())
    assert report["avatars"] == 2 and report["frames_rendered"] > 5
    c2p = report["capture_to_photon_ms"]
    assert c2p["count"] > 5 and 0 < c2p["p50"] <= c2p["p99"] < 2000
    assert 5 < report["latent_kbps_per_avatar"] < 200
    assert {"encode", "send", "receive", "decode", "render", "present"} <= set(report["stages"])
    trace = json.loads((out / "trace.json").read_text())
    slices = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
    assert slices and all(e["dur"] >= 0 for e in slices)
    tracks: dict[tuple[object, object], list[dict[str, float]]] = {}
    for e in slices:
        tracks.setdefault((e["pid"], e["tid"]), []).append(e)
    assert all(_properly_nested(events) for events in tracks.values())
    assert "<img" in (out / "report.html").read_text()


def test_unknown_scenario_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["profile", "nosuch"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
