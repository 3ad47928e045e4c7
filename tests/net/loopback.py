"""Helpers of the WebRTC tests: two PeerLinks connected on loopback (real aiortc, no signaling server), waiting
for a state with a bound, and a free loopback port for a server a test starts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from codecav.net.peer import PeerLink


async def connect_pair(a: PeerLink, b: PeerLink) -> None:
    """Offer from `a`, answer from `b`, then wait until both links' channels are open."""
    await a.accept_answer(await b.accept_offer(await a.create_offer()))
    await a.wait_open()
    await b.wait_open()


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Wait until `condition()` holds, checking every 5 ms; whether it did within `timeout_s` (a bound for a
    failing test, not a guess: callers wait for the exact state they then check)."""
    async def holds() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(holds(), timeout_s)
    except TimeoutError:
        return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
