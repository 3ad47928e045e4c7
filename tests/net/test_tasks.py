"""cancel_and_wait absorbs the child's cancellation but never the caller's (the benchmark's stop() hang);
finish_apart keeps library teardown from absorbing it (the SFU stop() hang CI hit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from codecav.net.signaling.server import SignalingServer
from codecav.net.tasks import cancel_and_wait, finish_apart
from tests.net.calls import SECRET, send_frames, session
from tests.net.loopback import until


def test_the_childs_cancellation_is_absorbed() -> None:
    async def main() -> None:
        child = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        await cancel_and_wait(child)
        assert child.cancelled()
        await cancel_and_wait(None)

    asyncio.run(main())


def test_the_callers_cancellation_propagates() -> None:
    async def main() -> None:
        winding_down = asyncio.Event()

        async def stubborn_child() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                winding_down.set()
                await asyncio.sleep(0.2)  # takes a while to wind down
                raise

        after = []

        async def parent() -> None:
            child = asyncio.create_task(stubborn_child())
            await asyncio.sleep(0)
            await cancel_and_wait(child)
            after.append("the parent went on")  # must not happen: the parent was cancelled meanwhile
            await asyncio.sleep(10)

        task = asyncio.create_task(parent())
        await asyncio.wait_for(winding_down.wait(), 2)  # the parent cancelled its child and waits for it
        task.cancel()  # lands while the parent waits for its child
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
        assert after == []

    asyncio.run(main())


async def close_like_aioice(closed: list[str], winding: asyncio.Event) -> None:
    """What aioice's Connection.close() does: cancel its consent task and await it, absorbing CancelledError,
    which also absorbs a cancellation of the task that runs this close. `winding` is set while it waits."""
    async def consent() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            winding.set()
            await asyncio.sleep(0.05)  # a moment to wind down, in which the caller's cancel lands
            raise

    task = asyncio.create_task(consent())
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    closed.append("closed")


async def closing_loop(close: Callable[[], Awaitable[object]], loops: list[int]) -> None:
    """An event loop that closes something, then goes back to waiting (the SFU session's _event_loop)."""
    await close()
    while True:
        loops.append(1)
        await asyncio.sleep(0.01)


def test_a_teardown_that_absorbs_cancellation_takes_the_callers_cancel_when_awaited_inline() -> None:
    """The hazard itself, so the next test is known to test something: cancelled while inside such a close, the
    task runs on."""
    async def main() -> None:
        closed: list[str] = []
        loops: list[int] = []
        winding = asyncio.Event()
        task = asyncio.create_task(closing_loop(lambda: close_like_aioice(closed, winding), loops))
        await winding.wait()
        task.cancel()  # lands while close_like_aioice awaits its consent task
        await asyncio.sleep(0.1)
        assert closed == ["closed"] and loops and not task.done()  # absorbed: still looping
        task.cancel()
        await asyncio.sleep(0)

    asyncio.run(main())


def test_finish_apart_leaves_the_callers_cancellation_to_the_caller() -> None:
    async def main() -> None:
        closed: list[str] = []
        loops: list[int] = []
        winding = asyncio.Event()
        task = asyncio.create_task(closing_loop(lambda: finish_apart(close_like_aioice(closed, winding), 5), loops))
        await winding.wait()
        task.cancel()
        async with asyncio.timeout(2):
            await cancel_and_wait(task)
        assert task.cancelled() and loops == []
        await asyncio.sleep(0.1)
        assert closed == ["closed"]  # the close itself still finished, apart

    asyncio.run(main())


def test_finish_apart_gives_up_after_its_timeout() -> None:
    async def main() -> None:
        never = asyncio.Event()
        assert await finish_apart(never.wait(), 0.05) is False
        assert await finish_apart(asyncio.sleep(0), 1) is True

    asyncio.run(main())


def test_stop_after_the_other_peer_left_returns(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice = session(server, "alice", tmp_path, seed=1)
            bob = session(server, "bob", tmp_path, seed=2)
            await alice.start()
            await bob.start()
            await bob.wait_for_peers(1)
            await send_frames(alice, 10)
            await alice.stop()
            assert await until(lambda: not bob.peers)  # bob's signal loop removes alice (peer_left), closes her link
            await asyncio.wait_for(bob.stop(), 10)
            assert [p.peer for p in bob.stats().departed] == ["alice"]

    asyncio.run(main())
