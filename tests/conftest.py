"""Shared fixtures: probes for GL and a display, so GL/window tests skip with a reason when absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import moderngl
import pytest


@pytest.fixture(scope="session")
def gl_ctx() -> Iterator[moderngl.Context]:
    """One standalone EGL context for the whole session (llvmpipe here); skip if EGL is unavailable."""
    try:
        ctx = moderngl.create_context(standalone=True, backend="egl", require=330)  # type: ignore[arg-type]  # stub says dict
    except Exception as exc:  # glcontext raises plain Exceptions
        pytest.skip(f"no EGL OpenGL 3.3 context ({exc}); install libegl1 libgl1 libgl1-mesa-dri")
    yield ctx
    ctx.release()


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """A DISPLAY for window tests: the existing one, or a private Xvfb started for the session."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no display and no Xvfb; apt-get install xvfb")
    display = ":97"
    proc = subprocess.Popen([xvfb, display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip("Xvfb did not start")
        time.sleep(0.05)
    os.environ["DISPLAY"] = display
    try:
        yield display
    finally:
        del os.environ["DISPLAY"]
        proc.terminate()
        proc.wait(timeout=10)
