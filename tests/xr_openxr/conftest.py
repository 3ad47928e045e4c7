"""Probe for a live OpenXR runtime; these tests run inside the Monado chroot (`make test-xr`).

Elsewhere they skip with the reason. With CODECAV_XR_EXPECT_RUNTIME=1 (set by scripts/xr/run_tests.sh)
a missing runtime fails instead, so `make test-xr` cannot pass by skipping everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_PROBE = """
import xr
instance = xr.create_instance(xr.InstanceCreateInfo(enabled_extension_names=[]))
system = xr.get_system(instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
name = xr.get_system_properties(instance, system).system_name
print(name.decode() if isinstance(name, bytes) else name)
xr.destroy_instance(instance)
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CODECAV_XR_EXPECT_RUNTIME") == "1":
        pytest.fail(f"OpenXR runtime expected but {reason}")
    pytest.skip(f"{reason}; run `make test-xr` (Monado in a Debian trixie chroot)")


@pytest.fixture(scope="session")
def openxr_runtime() -> str:
    """The headset's name when Monado's simulated HMD answers; skip (or fail) otherwise."""
    try:
        import xr  # noqa: F401
    except ImportError:
        _unavailable("pyopenxr is not installed")
    env = {**os.environ, "XR_LOADER_DEBUG": "none"}
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        _unavailable("the OpenXR probe hung for 30 s")
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        _unavailable(f"no OpenXR runtime with a headset answers ({last})")
    name = probe.stdout.strip()
    if "Simulated" not in name:
        # The assertions (320x240, 50 ms period, no eye tracker) describe Monado's simulated HMD.
        pytest.skip(f"these tests expect Monado's simulated HMD, found {name!r}; run `make test-xr`")
    return name


def run_scenario(graphics: str, tmp: Path, env: dict[str, str], frames: int = 120, scene: str = "quad"
                 ) -> dict[str, Any]:
    """Run tests.xr_openxr.session_scenario in a child process and return its JSON report."""
    out = tmp / f"session_{graphics}_{scene}.json"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.xr_openxr.session_scenario", "--graphics", graphics, "--frames", str(frames),
         "--scene", scene, "--out", str(out)],
        capture_output=True, text=True, timeout=180, env=env, cwd=repo)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise AssertionError(f"{graphics} session scenario failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _session_env(request: pytest.FixtureRequest, graphics: str) -> dict[str, str]:
    """The child's environment: no DISPLAY for EGL (proves it needs none), an X display for GLX."""
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    if graphics == "glx":
        if not os.environ.get("DISPLAY") and os.environ.get("CODECAV_XR_EXPECT_RUNTIME") == "1":
            pytest.fail("the GLX binding needs DISPLAY; scripts/xr/run_tests.sh starts Xvfb in the chroot")
        display: str = request.getfixturevalue("x_display")
        env["DISPLAY"] = display
    return env


@pytest.fixture(scope="module", params=["egl", "glx"])
def session(request: pytest.FixtureRequest, openxr_runtime: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        dict[str, Any]]:
    """A 120-frame quad session through EGL (no display) or GLX (Xvfb), run once per module and binding."""
    graphics: str = request.param
    yield run_scenario(graphics, tmp_path_factory.mktemp(graphics), _session_env(request, graphics))


@pytest.fixture(scope="module", params=["egl", "glx"])
def avatar_session(request: pytest.FixtureRequest, openxr_runtime: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 30-frame session drawing the sample avatar with the PiCA GL pass, through EGL or GLX."""
    graphics: str = request.param
    yield run_scenario(graphics, tmp_path_factory.mktemp(graphics), _session_env(request, graphics), frames=30,
                       scene="avatar")
