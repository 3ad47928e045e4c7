"""Wait for the GPU (or Mesa's llvmpipe threads) without holding Python's GIL.

moderngl's `Context.finish()` and the implicit wait inside `Framebuffer.read()` keep the GIL for as long as the
driver renders: on llvmpipe that is the whole frame's rasterisation, 10-100 ms, during which no other Python
thread runs: the call's asyncio network thread (voice and face packets wait in the socket), the encoders, the
voice output. ctypes releases the GIL around foreign calls, so `glFinish` through ctypes lets those threads run
while the frame renders. The function is resolved from the GL dispatch libraries (GLVND's libOpenGL for EGL
contexts, libGL for GLX); both dispatch to the context current on the calling thread, which is the one moderngl
made current. Where neither library loads, `finish` falls back to moderngl's (correct, only GIL-holding).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Protocol

GL_LIBRARIES = ("libOpenGL.so.0", "libGL.so.1", "libGL.so")
"""Tried in order for glFinish."""


class _Finishes(Protocol):
    def finish(self) -> None:
        """moderngl.Context.finish."""


@functools.cache
def _gl_finish() -> Callable[[], None] | None:
    for name in GL_LIBRARIES:
        try:
            function = ctypes.CDLL(name).glFinish  # CDLL (not PyDLL): the GIL is released during the call
        except (OSError, AttributeError):
            continue
        function.restype = None
        function.argtypes = []
        return function
    return None


def finish(ctx: _Finishes) -> None:
    """Block until all GL work submitted on `ctx` (current on this thread) is done, letting other threads run."""
    function = _gl_finish()
    if function is None:
        ctx.finish()
    else:
        function()
