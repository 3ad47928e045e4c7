"""User-space network impairment for a PeerLink: drop and delay its outgoing UDP datagrams (a netem stand-in).

`tc netem` needs the sch_netem kernel module and a network namespace; where those are missing (containers, CI)
tests and benchmarks impair the real aiortc stack here instead, below DTLS/SCTP/SRTP, so congestion control,
retransmission and the jitter buffer see real loss and reordering.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from codecav.net.peer import PeerLink


@dataclass(frozen=True)
class Impairment:
    """What happens to each outgoing datagram."""

    loss: float = 0.0
    """Probability that a datagram is dropped (0..1)."""
    delay_ms: float = 0.0
    """Mean one-way delay added."""
    jitter_ms: float = 0.0
    """Delay varies uniformly in delay_ms +- jitter_ms (never below 0); datagrams may be reordered."""
    seed: int = 0
    """Seed of the loss and delay draws."""


@dataclass
class ImpairmentStats:
    """What the impairment did."""

    sent: int = 0
    """Datagrams passed on."""
    dropped: int = 0
    """Datagrams dropped."""
    in_flight: int = 0
    """Datagrams delayed and not yet handed to the socket (0 once everything sent has landed or been dropped)."""


def impair(link: PeerLink, impairment: Impairment) -> ImpairmentStats:
    """Impair every datagram `link` sends from now on (call after the connection is up); returns live counters."""
    ice_transport: Any = link.pc.sctp.transport.transport if link.pc.sctp is not None else None
    if ice_transport is None:
        raise ValueError("impair() needs a connected PeerLink with data channels")
    # RTCIceTransport._send is aioice's Connection.send, bound when the transport started: the last hop before
    # the UDP socket for DTLS (SCTP data) and SRTP (voice) alike.
    original_send = ice_transport._send
    rng = random.Random(impairment.seed)
    stats = ImpairmentStats()
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def deliver(data: bytes) -> None:
        try:
            await original_send(data)
        except (ConnectionError, OSError):
            pass  # the connection closed while the datagram was "in flight"
        finally:
            stats.in_flight -= 1

    async def send(data: bytes) -> None:
        if rng.random() < impairment.loss:
            stats.dropped += 1
            return
        stats.sent += 1
        delay = max(0.0, impairment.delay_ms + rng.uniform(-impairment.jitter_ms, impairment.jitter_ms)) / 1000.0
        if delay <= 0.0:
            await original_send(data)
            return

        def later() -> None:
            task = loop.create_task(deliver(data))
            pending.add(task)
            task.add_done_callback(pending.discard)

        stats.in_flight += 1
        loop.call_later(delay, later)

    ice_transport._send = send
    return stats
