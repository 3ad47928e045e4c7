"""asyncio helpers: cancelling child tasks without swallowing the caller's own cancellation."""

from __future__ import annotations

import asyncio
import contextlib


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
