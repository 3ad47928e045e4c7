"""gl_finish.finish: waits for the frame like moderngl's finish, but lets other Python threads run meanwhile."""

from __future__ import annotations

import threading
import time

import moderngl
import numpy as np
import pytest

from codecav.gl_finish import _gl_finish, finish
from codecav.xr.errors import RenderTargetError
from codecav.xr.headless import create_headless_context

HEAVY_FRAGMENT = """#version 330
in vec2 uv; out vec4 color;
void main() { vec4 a = vec4(uv, 0.0, 1.0); for (int i = 0; i < 300; i++) { a = sin(a * 1.01 + 0.1); } color = a; }"""


def longest_gap_ms(wait: str) -> tuple[float, float]:
    """(longest pause of a 1 ms sleeper thread, mean frame time) while the main thread renders a heavy frame and
    waits for it with `wait` ('moderngl' or 'codecav')."""
    try:
        ctx = create_headless_context()
    except RenderTargetError as exc:
        pytest.skip(str(exc))
    prog = ctx.program(vertex_shader="#version 330\nin vec2 p; out vec2 uv; void main() { uv = p; "
                                     "gl_Position = vec4(p, 0.0, 1.0); }", fragment_shader=HEAVY_FRAGMENT)
    vao = ctx.simple_vertex_array(prog, ctx.buffer(np.array([-1, -1, 1, -1, -1, 1, 1, 1], "f4").tobytes()), "p")
    fbo = ctx.simple_framebuffer((256, 256))
    fbo.use()
    gaps: list[float] = []
    done = threading.Event()

    def sleeper() -> None:
        while not done.is_set():
            began = time.perf_counter()
            time.sleep(0.001)
            gaps.append(time.perf_counter() - began)

    thread = threading.Thread(target=sleeper)
    thread.start()
    began = time.perf_counter()
    frames = 8
    for _ in range(frames):
        vao.render(moderngl.TRIANGLE_STRIP)
        ctx.finish() if wait == "moderngl" else finish(ctx)
    per_frame = (time.perf_counter() - began) / frames
    done.set()
    thread.join()
    image = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32)
    assert np.isfinite(image).all() and image.std() > 0  # the frame was drawn
    ctx.release()
    return max(gaps) * 1000, per_frame * 1000


def test_finish_waits_for_the_frame_without_holding_the_gil() -> None:
    if _gl_finish() is None:
        pytest.skip("no GL dispatch library to call glFinish through (libOpenGL.so.0 / libGL.so.1)")
    held_gap, held_frame = longest_gap_ms("moderngl")
    free_gap, free_frame = longest_gap_ms("codecav")
    # With moderngl's finish the sleeper cannot wake for most of a frame; with codecav's it wakes on time.
    assert held_gap > 0.6 * held_frame, (held_gap, held_frame)
    assert free_gap < 0.5 * free_frame, (free_gap, free_frame)
