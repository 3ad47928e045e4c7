"""Without an OpenXR runtime, OpenXRTarget fails with one actionable line and open_best_target falls back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from codecav.camera import View, look_at, perspective
from codecav.errors import CodecavError
from codecav.xr.errors import RenderTargetError
from codecav.xr.openxr.config import OpenXRConfig, OpenXRUnavailable
from codecav.xr.openxr.target import OpenXRTarget
from codecav.xr.select import open_best_target

xr = pytest.importorskip("xr", reason="pyopenxr not installed")


@pytest.fixture
def no_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Point the loader at a runtime manifest that does not exist, whatever is installed on the machine."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "no_such_runtime.json"))
    monkeypatch.setenv("XR_LOADER_DEBUG", "none")
    try:
        xr.enumerate_instance_extension_properties()
    except xr.exception.RuntimeUnavailableError:
        return
    except xr.exception.XrException as exc:
        pytest.skip(f"the OpenXR loader fails differently here ({type(exc).__name__})")
    pytest.skip("an OpenXR runtime answered although XR_RUNTIME_JSON points nowhere")


def _views() -> list[View]:
    view = look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3))
    return [View(view, perspective(60.0, 4 / 3, 0.05, 10.0), 64, 48)]


def test_no_runtime_is_one_actionable_line(no_runtime: None) -> None:
    with pytest.raises(OpenXRUnavailable) as info:
        OpenXRTarget(OpenXRConfig())
    message = str(info.value)
    assert "\n" not in message
    assert "no OpenXR runtime found" in message and "monado-service" in message
    assert isinstance(info.value, RenderTargetError) and isinstance(info.value, CodecavError)


def test_missing_graphics_extension_names_it_and_the_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Ext:
        def __init__(self, name: str) -> None:
            self.extension_name = name.encode()

    offered = [_Ext("XR_KHR_opengl_enable"), _Ext("XR_KHR_convert_timespec_time")]
    monkeypatch.setattr(xr, "enumerate_instance_extension_properties", lambda: offered)
    with pytest.raises(OpenXRUnavailable) as info:
        OpenXRTarget(OpenXRConfig(graphics="egl"))
    message = str(info.value)
    assert "\n" not in message
    assert "XR_MNDX_egl_enable" in message and "graphics='glx'" in message


def test_unknown_graphics_binding_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="choose 'egl' or 'glx'"):
        OpenXRTarget(OpenXRConfig(graphics="vulkan"))


def test_config_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODECAV_XR_GRAPHICS", "glx")
    monkeypatch.setenv("CODECAV_XR_SPACE", "stage")
    config = OpenXRConfig.from_env(OpenXRConfig(near=0.1))
    assert (config.graphics, config.reference_space, config.near) == ("glx", "stage", 0.1)


def test_open_best_target_falls_back_to_headless_with_one_line_note(
    no_runtime: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    try:
        target, note = open_best_target(_views(), prefer_xr=True)
    except RenderTargetError as exc:
        pytest.skip(f"no headless EGL context for the fallback ({exc})")
    try:
        from codecav.xr.headless import HeadlessTarget

        assert isinstance(target, HeadlessTarget)
        assert "\n" not in note
        assert note.startswith("OpenXR unavailable (no OpenXR runtime found")
        assert note.endswith("rendering headless (EGL)")
        assert len(target.begin_frame()) == 1
    finally:
        target.close()


def test_open_best_target_without_xr_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    try:
        target, note = open_best_target(_views(), prefer_xr=False)
    except RenderTargetError as exc:
        pytest.skip(f"no headless EGL context for the fallback ({exc})")
    target.close()
    assert note == "OpenXR not requested; rendering headless (EGL)"


def test_no_runtime_prints_nothing_by_default(tmp_path: Any) -> None:
    """The loader's own multi-line stderr diagnostics are silenced unless OpenXRConfig.loader_messages."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XR_LOADER_DEBUG"}
    env["XR_RUNTIME_JSON"] = str(tmp_path / "no_such_runtime.json")
    code = ("from codecav.xr.openxr.config import OpenXRUnavailable\n"
            "from codecav.xr.openxr.target import OpenXRTarget\n"
            "try:\n    OpenXRTarget()\nexcept OpenXRUnavailable as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    if "no OpenXR runtime found" not in proc.stdout:
        pytest.skip(f"the OpenXR loader fails differently here: {proc.stdout.strip()}")
    assert proc.stderr == ""
    assert len(proc.stdout.strip().splitlines()) == 1
