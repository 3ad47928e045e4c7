"""cancel_and_wait absorbs the child's cancellation but never the caller's (the benchmark's stop() hang)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codecav.net.signaling.server import SignalingServer
from codecav.net.tasks import cancel_and_wait
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
