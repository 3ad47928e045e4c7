"""A two-party call with one participant in Monado's simulated headset (`codecav call --render xr`) and one
headless, through the signaling server on loopback: head poses follow the HMD, the remote shows in both eyes,
frames follow the runtime's schedule, and the headset side's session stopping ends only that side.

alice (headset) stays HEADSET_S seconds, then her session walks STOPPING ... EXITING (the app asks the runtime
to end it, as a quit button would) and she leaves; bob (headless) stays HEADLESS_S seconds and must see her go
and keep running.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from PIL import Image

from codecav.camera import project_point
from codecav.xr.seated import Origin, relative_head_pose

HEADSET_S = 10.0
"""How long alice's headset session runs (from her render loop's start)."""
HEADLESS_S = 22.0
"""How long bob stays: long enough to outlive alice by several seconds."""
SIMULATED_PERIOD_MS = 50.0
"""Monado's simulated HMD displays at 20 Hz."""


def _angle_deg(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    """The rotation between two unit quaternions in degrees (atan2: exact near zero, unlike arccos)."""
    d = _delta(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return float(np.degrees(2 * np.arctan2(np.linalg.norm(d[:3]), abs(d[3]))))


def _delta(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """conj(qa) * qb: the rotation from a to b."""
    ax, ay, az, aw = -qa[0], -qa[1], -qa[2], qa[3]
    bx, by, bz, bw = qb
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


@pytest.fixture(scope="module")
def call(openxr_runtime: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the call once; everything each side printed and wrote."""
    from codecav.assets.synthetic.avatar import build_synthetic_avatar
    from codecav.assets.writer import write_avatar
    from codecav.net.signaling.server import SignalingServer
    from codecav.runtime.engine import NetworkThread

    tmp = tmp_path_factory.mktemp("call")
    small: dict[str, Any] = {"feature_size": 16, "mesh_resolution": (8, 12)}
    avatars = {name: write_avatar(build_synthetic_avatar(seed=i, **small), tmp / f"{name}.cavatar")
               for i, name in enumerate(("alice", "bob"))}
    secret = secrets.token_hex(32).encode()
    (tmp / "secret").write_bytes(secret + b"\n")
    net = NetworkThread("test-signal")
    server = SignalingServer("127.0.0.1", 0, secret)
    net.call(server.start(), timeout=10)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # EGL: the headset needs no X display
    env["OMP_NUM_THREADS"] = "1"
    common = ["--room", "xr-room", "--signal", server.url, "--secret-file", str(tmp / "secret"), "--loopback"]
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, render, seconds, size in (("bob", "headless", HEADLESS_S, "160x120"),
                                            ("alice", "xr", HEADSET_S, "160x120")):
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "codecav", "call", *common, "--peer", name, "--avatar", str(avatars[name]),
                 "--render", render, "--seconds", str(seconds), "--size", size, "--out", str(tmp / name)],
                env={**env, "CODECAV_CACHE": str(tmp / f"cache-{name}")}, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True)
        outputs = {name: proc.communicate(timeout=HEADLESS_S + 120)[0] for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        net.call(server.stop(), timeout=10)
        net.stop()
    result: dict[str, Any] = {"tmp": tmp, "out": outputs, "rc": {n: p.returncode for n, p in procs.items()}}
    for name in ("alice", "bob"):
        assert result["rc"][name] == 0, f"{name} failed:\n{outputs[name][-3000:]}"
    result["xr"] = json.loads((tmp / "alice" / "xr_call.json").read_text())
    result["received"] = json.loads((tmp / "bob" / "received_head_poses.json").read_text())
    result["alice_report"] = json.loads((tmp / "alice" / "report.json").read_text())
    result["alice_presented"] = json.loads((tmp / "alice" / "frames_presented.json").read_text())
    result["bob_stats"] = json.loads((tmp / "bob" / "call_stats.json").read_text())
    return result


def test_headset_side_says_what_it_opened_and_what_drives_the_avatar(call: dict[str, Any]) -> None:
    out = call["out"]["alice"]
    display = [line for line in out.splitlines() if line.startswith("display: OpenXR: ")]
    assert len(display) == 1 and "Simulated HMD via EGL" in display[0], out
    driven = [line for line in out.splitlines() if line.startswith("headset: your head from the headset")]
    assert len(driven) == 1 and "--source synthetic" in driven[0], out  # no eye gaze or face tracking on Monado
    assert "eye gaze off" in driven[0] and "face tracking off" in driven[0]


def test_sent_head_pose_is_the_hmd_pose_relative_to_the_seated_origin(call: dict[str, Any]) -> None:
    xr = call["xr"]
    sent = xr["sent"]
    assert len(sent) > 50, "alice sent too few head-tracked frames"
    assert xr["seat_calibrations"] == 1
    origin = Origin(np.array(xr["seat_origin"]["position"], np.float32), xr["seat_origin"]["yaw_rad"])
    for s in sent:
        expected = relative_head_pose(origin, np.array(s["runtime_position"]), np.array(s["runtime_orientation"]))
        assert _angle_deg(expected.orientation, s["head_orientation"]) < 1e-3
        np.testing.assert_allclose(s["head_position"], expected.position, atol=1e-5)
    # The simulated HMD turns its head over the call, and the sent pose turns with it.
    turn = max(_angle_deg(sent[0]["head_orientation"], s["head_orientation"]) for s in sent)
    runtime_turn = max(_angle_deg(sent[0]["runtime_orientation"], s["runtime_orientation"]) for s in sent)
    assert turn > 1.0 and turn == pytest.approx(runtime_turn, abs=0.01)


def test_headless_side_receives_the_head_poses_alice_sent(call: dict[str, Any]) -> None:
    sent = {s["sequence"]: s["head_orientation"] for s in call["xr"]["sent"]}
    received = [r for r in call["received"]["alice"] if r[0] in sent]
    assert len(received) > 30, "bob received too few of alice's frames"
    for seq, *q in received:
        # The jitter buffer may show a pose interpolated towards a neighbouring frame's.
        neighbours = [sent[k] for k in (seq - 1, seq + 1) if k in sent]
        slack = max([_angle_deg(sent[seq], n) for n in neighbours], default=0.0)
        assert _angle_deg(q, sent[seq]) <= slack + 0.05, (seq, q, sent[seq])
    turn = max(_angle_deg(received[0][1:], r[1:]) for r in received)
    assert turn > 1.0, "the head poses bob received do not follow the simulated HMD's turning"


def test_remote_avatar_shows_in_both_eyes_where_the_views_project_its_head(call: dict[str, Any]) -> None:
    snapshot = call["xr"].get("snapshot")
    assert snapshot is not None, "no frame with bob in view was read back"
    head = np.array(snapshot["remote_heads"]["bob"])
    assert np.linalg.norm(head[[0, 2]]) == pytest.approx(1.1, abs=0.01)  # seated distance across the table
    xs = []
    for i, view in enumerate(snapshot["views"]):
        image = np.asarray(Image.open(call["tmp"] / "alice" / f"xr_eye{i}.png")).astype(np.int16)
        vp = np.array(view["projection"]) @ np.array(view["view_matrix"])
        x, y = project_point(vp, head, view["width"], view["height"])
        assert 0 <= x < view["width"] and 0 <= y < view["height"], (i, x, y)
        background = image[0, 0]
        avatar = np.abs(image - background).max(axis=2) > 8
        assert avatar[int(y), int(x)], f"eye {i}: the pixel where bob's head projects shows the background"
        assert avatar.sum() > 300, f"eye {i}: bob covers only {avatar.sum()} pixels"
        ys, cols = np.nonzero(avatar)
        assert cols.min() <= x <= cols.max() and ys.min() <= y <= ys.max()
        xs.append(x)
    assert xs[0] > xs[1], "stereo: the left eye sees bob further right than the right eye does"


def test_frames_follow_the_runtime_schedule(call: dict[str, Any]) -> None:
    xr = call["xr"]
    timing = xr["timing"]
    assert timing["predicted_period_ms"] == pytest.approx(SIMULATED_PERIOD_MS, abs=1.0)
    assert timing["wait_ms_mean"] > 1.0, "xrWaitFrame should pace the loop"
    displays = np.array([f["predicted_display_ns"] for f in xr["frames"]], np.int64)
    assert len(displays) > 50
    # One frame per display slot: never two frames for one predicted display time, never a burst.
    assert np.diff(displays).min() >= 0.9 * SIMULATED_PERIOD_MS * 1e6
    trace = json.loads((call["tmp"] / "alice" / "trace.json").read_text())
    names = [e["name"] for e in trace["traceEvents"] if e.get("ph") == "X"]
    assert names.count("xrWaitFrame") == len(xr["frames"])
    assert names.count("late_frame") == sum(f["late"] for f in xr["frames"])


def test_capture_to_photon_is_measured_to_the_predicted_display_time(call: dict[str, Any]) -> None:
    report = call["alice_report"]
    assert "predicted display time" in report["extra"]["photon"]
    c2p = report["capture_to_photon_ms"]
    assert c2p["count"] > 20 and c2p["p50"] > 0
    displays = {f["predicted_display_ns"] for f in call["xr"]["frames"]}
    presented = call["alice_presented"]
    assert presented and all(p["present_ns"] in displays for p in presented)


def test_session_stopping_ends_the_headset_side_and_the_other_keeps_going(call: dict[str, Any]) -> None:
    xr = call["xr"]
    states = xr["session_states"]
    assert "FOCUSED" in states and states.index("STOPPING") > states.index("FOCUSED"), states
    assert xr["ended"] == "the session stopped"
    assert "headset: the session is stopping (the call's time is up)" in call["out"]["alice"]
    assert "headset: the app is hidden" not in call["out"]["alice"]  # the walk down after our own request
    bob = call["out"]["bob"]
    assert "alice left the call; the call goes on" in bob, bob
    rendered = [line for line in bob.splitlines() if line.startswith("rendered ")]
    assert rendered and float(rendered[0].split(" in ")[1].split(" s")[0]) >= HEADLESS_S - 0.5
    departed = [p["peer"] for p in call["bob_stats"]["departed"]]
    assert "alice" in departed
