"""asyncio helpers: cancelling child tasks, and running library teardown, without swallowing the caller's own
cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

_UNFINISHED: set[asyncio.Task[Any]] = set()
"""Teardown tasks whose caller was cancelled: held here until they end (the loop keeps only weak references)."""


async def cancel_and_wait(task: asyncio.Task[None] | None, *also_ignore: type[BaseException]) -> None:
    """Cancel `task` and wait for it to end. A CancelledError from the task is absorbed, but if the caller itself
    is being cancelled it propagates: `suppress(CancelledError)` around `await task` would swallow the caller's
    cancellation too, and a `stop()` waiting on that caller would then wait forever."""
    if task is None:
        return
    task.cancel()
    try:
        with contextlib.suppress(*also_ignore):
            await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


async def finish_apart(work: Coroutine[Any, Any, object], timeout_s: float) -> bool:
    """Await `work` in a task of its own; False (and `work` cancelled) if it takes over `timeout_s`.

    Library teardown can absorb a cancellation meant for whoever awaits it: aioice's Connection.close() cancels
    its consent task and awaits it under `except CancelledError: pass`, so a task cancelled while inside
    RTCPeerConnection.close() runs on as if never cancelled (seen: an SFU event loop closing a departed
    subscriber kept looping, and the stop() waiting on it hung). Run apart, that absorbs only the library's own
    cancellation; the caller's reaches the caller, and `work` still finishes in the background."""
    task = asyncio.ensure_future(work)
    _UNFINISHED.add(task)
    task.add_done_callback(_UNFINISHED.discard)
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(task)
    except TimeoutError:
        task.cancel()
        return False
    return True
