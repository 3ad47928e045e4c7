"""`codecav call --render xr` without a headset: the help lists it, no runtime is one line and a fallback, and the
headset lifecycle lines (which Monado's simulated HMD cannot produce: it never loses focus) come out right."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from codecav.camera import View, look_at, perspective
from codecav.cli.main import main
from codecav.clock import FakeClock
from codecav.latent import HeadPose
from codecav.runtime.call_app import CallRequestError, open_call_target
from codecav.runtime.headset_call import EXIT_GRACE_S, HeadsetCall
from codecav.runtime.profiler import Profiler
from codecav.xr.headless import HeadlessTarget
from codecav.xr.openxr.target import OpenXRTarget

xr = pytest.importorskip("xr", reason="pyopenxr not installed")


def test_call_help_lists_xr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["call", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "{headless,window,xr}" in out and "OpenXR headset" in out


def test_xr_without_a_runtime_says_why_in_one_line_and_falls_back(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "no_such_runtime.json"))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    try:
        xr.enumerate_instance_extension_properties()
    except xr.exception.RuntimeUnavailableError:
        pass
    else:
        pytest.skip("an OpenXR runtime answered although XR_RUNTIME_JSON points nowhere")
    views = [View(look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3)), perspective(60.0, 4 / 3, 0.05, 10.0), 64, 48)]
    try:
        target, note = open_call_target("xr", views)
    except Exception as exc:  # no EGL here: the headless fallback itself cannot open
        pytest.skip(f"no headless GL here ({exc})")
    try:
        assert isinstance(target, HeadlessTarget)
        assert "\n" not in note
        assert note.startswith("OpenXR unavailable (no OpenXR runtime found")
        assert note.endswith("rendering headless (EGL)")
    finally:
        target.close()


def test_an_unknown_render_target_names_the_known_ones() -> None:
    with pytest.raises(CallRequestError, match="use headless, window, xr"):
        open_call_target("vr", [])


class _StubTarget:
    """What HeadsetCall reads of an OpenXRTarget: session states, recentring and loss, set by the test."""

    def __init__(self) -> None:
        self.session_states = ["IDLE", "READY"]
        self.reference_space_changes = 0
        self.lost = ""
        self.stopped = False
        self.should_close = False
        self.exit_requests = 0
        self.head_pose: HeadPose | None = None
        self.gaze = None
        self.face = None
        self.predicted_display_ns = 0
        self.on_tracked: Any = None
        self.before_present: Any = None

    def request_exit(self) -> None:
        self.exit_requests += 1


def _headset(seconds: float | None = None) -> tuple[HeadsetCall, _StubTarget, FakeClock, list[str]]:
    stub = _StubTarget()
    clock = FakeClock()
    call = HeadsetCall(cast(OpenXRTarget, stub), Profiler(), seconds=seconds, clock=clock)
    return call, stub, clock, []


def test_state_changes_after_focus_are_one_line_each_and_the_call_goes_on() -> None:
    call, stub, _clock, lines = _headset()
    stub.session_states += ["SYNCHRONIZED", "VISIBLE", "FOCUSED"]  # starting up: nothing to say
    assert call.check(lines.append) is False and lines == []
    stub.session_states += ["VISIBLE", "SYNCHRONIZED"]  # overlay, then headset taken off
    stub.session_states += ["VISIBLE", "FOCUSED"]  # put back on
    assert call.check(lines.append) is False
    assert lines == ["headset: visible but not focused (a system overlay has the input); the call goes on",
                     "headset: the app is hidden (headset taken off, or the runtime shows something else); the call "
                     "goes on, nothing is rendered until it is back",
                     "headset: visible again, without input focus",
                     "headset: focused again"]


def test_runtime_stopping_or_loss_ends_the_headset_side_with_one_line() -> None:
    call, stub, _clock, lines = _headset()
    stub.session_states += ["SYNCHRONIZED", "VISIBLE", "FOCUSED", "VISIBLE", "SYNCHRONIZED", "STOPPING"]
    stub.stopped = True
    assert call.check(lines.append) is True
    assert lines[-1] == "headset: the runtime stopped the session (STOPPING); leaving the call, the others carry on"
    assert call.ended == "the session stopped"

    call, stub, _clock, lines = _headset()
    stub.lost, stub.should_close = "the OpenXR runtime was lost (SessionLostError: gone)", True
    assert call.check(lines.append) is True
    assert lines == ["headset: the OpenXR runtime was lost (SessionLostError: gone); leaving the call, the others "
                     "carry on"]


def test_time_up_asks_the_runtime_to_end_the_session_and_leaves_when_it_stops_or_after_the_grace() -> None:
    call, stub, clock, lines = _headset(seconds=5.0)
    assert call.check(lines.append) is False
    clock.value = 5_000_000_000
    assert call.check(lines.append) is False and stub.exit_requests == 1
    stub.session_states += ["SYNCHRONIZED", "VISIBLE", "FOCUSED", "VISIBLE", "SYNCHRONIZED", "STOPPING"]
    stub.stopped = True
    assert call.check(lines.append) is True
    assert lines == ["headset: the session is stopping (the call's time is up)"]

    call, stub, clock, lines = _headset(seconds=1.0)
    call.check(lines.append)
    clock.value = 1_000_000_000
    assert call.check(lines.append) is False
    clock.value += int(EXIT_GRACE_S * 1e9) + 1
    assert call.check(lines.append) is True  # the runtime never answered: nothing hangs
    assert "did not stop the session" in lines[-1]


def test_recentring_recalibrates_the_seat_with_one_line() -> None:
    call, stub, _clock, lines = _headset()
    q = np.array([0, np.sin(0.3), 0, np.cos(0.3)], np.float32)
    stub.head_pose = HeadPose(np.array([0.1, 0, 0], np.float32), q)
    call._publish()
    assert call.seat.calibrations == 1
    reading = call.tracking.latest()
    assert reading is not None and reading.head_pose is not None
    np.testing.assert_allclose(reading.head_pose.orientation, [0, 0, 0, 1], atol=1e-6)
    stub.reference_space_changes = 1
    call.check(lines.append)
    assert lines == ["headset: the runtime recentred its reference space; your seat is recalibrated"]
    call._publish()
    assert call.seat.calibrations == 2
