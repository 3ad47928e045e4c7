"""Serving one's avatar in an SFU room: once per round to everyone who asked, not once per asker.

Janus forwards everything a publisher sends on its data channel to every subscriber, so an avatar sent to one
participant reaches all of them. Sent per request, a room of 8 moves 7 transfers from each publisher to 7
subscribers each (49 copies per avatar), and the pings queued behind them on the ordered control channel arrive
seconds late. Instead the chunks go out once, addressed to everyone (envelope to "*"); a participant that asked
takes them, the others drop them uncounted-as-harm (AvatarFetch counts them as 'unexpected'). Requests that
arrive while a round runs are served by the next round (a late asker skips the chunks before index 0 of the
round it joined mid-way, see AvatarFetch.on_chunk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.remote_peer import AVATAR_SEND_BUFFER_BYTES
from codecav.net.tasks import cancel_and_wait
from codecav.net.wire.control import encode_control_message

GATHER_QUIET_S = 0.5
"""A round starts once no request has come for this long, so participants joining together share it ..."""
GATHER_MAX_S = 2.0
"""... but no later than this after the first request it serves. Every round reaches every subscriber through
Janus, whoever asked: in an 8-person room joining over ~20 s, rounds started 0.2 s after each first request ran
5-13 times per participant (mostly for one asker each), and Janus queued megabytes of chunks ahead of everyone's
latent frames."""


class AvatarBroadcast:
    """Rounds of this participant's avatar transfer to everyone who asked since the last round began."""

    def __init__(self, own: OwnAvatar, send: Callable[[bytes], bool], backlog: Callable[[], int]) -> None:
        """`send(message)` publishes a control message to everyone (False while the channel is not open);
        `backlog()` is the bytes queued on that channel (a round pauses above AVATAR_SEND_BUFFER_BYTES, as a
        transfer to one peer does, so pings stay timely)."""
        self.own = own
        self._send = send
        self._backlog = backlog
        self._pending: set[str] = set()
        self._last_request_s = 0.0
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        """Transfers sent so far."""
        self.served: list[frozenset[str]] = []
        """Who asked for each round, in order."""

    def request(self, peer: str) -> None:
        """`peer` asked for the avatar (event loop)."""
        self._pending.add(peer)
        self._last_request_s = asyncio.get_running_loop().time()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            first_s = loop.time()
            while True:
                start_s = min(self._last_request_s + GATHER_QUIET_S, first_s + GATHER_MAX_S)
                if loop.time() >= start_s:
                    break
                await asyncio.sleep(start_s - loop.time())
            askers, self._pending = frozenset(self._pending), set()
            for msg in self.own.chunks():
                data = encode_control_message(msg)
                while self._backlog() > AVATAR_SEND_BUFFER_BYTES or not self._send(data):
                    await asyncio.sleep(0.005)
            self.rounds += 1
            self.served.append(askers)

    async def close(self) -> None:
        """Stop a round in progress."""
        await cancel_and_wait(self._task)
        self._task = None
