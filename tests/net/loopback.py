"""Helpers of the WebRTC tests: two PeerLinks connected on loopback (real aiortc, no signaling server)."""

from __future__ import annotations

from codecav.net.peer import PeerLink


async def connect_pair(a: PeerLink, b: PeerLink) -> None:
    """Offer from `a`, answer from `b`, then wait until both links' channels are open."""
    await a.accept_answer(await b.accept_offer(await a.create_offer()))
    await a.wait_open()
    await b.wait_open()
