"""WebRTC signaling server: rooms, HMAC join tokens, relay of offer/answer/candidate, presence notices.

One WebSocket per peer at ws://HOST:PORT/ws carrying JSON text frames (docs/signaling.md). Binds 127.0.0.1
unless told otherwise. Every refusal is a one-line `error` reply; only join refusals close the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from codecav.clock import MONOTONIC, Clock
from codecav.net.errors import JoinTokenError, SignalingError
from codecav.net.signaling.join_token import make_join_token, secret_key, verify_join_token
from codecav.net.signaling.messages import (
    Answer,
    Candidate,
    ErrorReply,
    Join,
    Joined,
    Leave,
    Offer,
    PeerDropped,
    PeerJoined,
    PeerLeft,
    ProtocolError,
    ServerMessage,
    parse_client_message,
    server_message_json,
)
from codecav.net.web.site import WebSite

__all__ = ["SignalingConfig", "SignalingServer", "make_join_token"]

CLOSE_REFUSED = 4403
"""WebSocket close code after a refused join (bad token, room full, peer id taken, bad first message)."""
CLOSE_JOIN_TIMEOUT = 4408
"""WebSocket close code when no join arrives within join_timeout_s."""
CLEAN_CLOSE_CODES = (WSCloseCode.OK, WSCloseCode.GOING_AWAY)
"""Close codes from a client that count as leaving rather than dropping."""


@dataclass(frozen=True)
class SignalingConfig:
    """Limits of a SignalingServer."""

    max_peers_per_room: int = 6
    """Peers one room holds; the next join is refused with 'room_full'."""
    max_rooms: int = 1000
    """Rooms the server holds at once."""
    max_connections: int = 2000
    """Open WebSockets (joined or not); beyond it new connections get HTTP 503."""
    max_message_bytes: int = 65536
    """Longest text message (UTF-8 bytes) accepted; longer ones get a 'too_large' error reply."""
    rate_per_s: float = 20.0
    """Sustained messages per second per connection (token bucket refill rate)."""
    burst: int = 50
    """Messages a connection may send back to back (token bucket size), e.g. a trickle of ICE candidates."""
    join_timeout_s: float = 10.0
    """Time a new connection has to send its join."""
    heartbeat_s: float = 20.0
    """WebSocket ping interval; a peer that stops answering is dropped."""
    outbox_messages: int = 256
    """Messages queued for a peer that does not read; beyond it the peer is dropped as too slow."""
    close_timeout_s: float = 2.0
    """How long closing a socket waits for the client's close frame."""


class TokenBucket:
    """Classic token bucket: `rate` tokens per second up to `burst`; each message takes one."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Take one token at time `now`; False if the bucket is empty."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass(eq=False)
class _Peer:
    room: str
    peer_id: str
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str]
    left: bool = False
    too_slow: bool = False
    writer: asyncio.Task[None] | None = field(default=None, repr=False)
    transport: asyncio.Transport | None = field(default=None, repr=False)


class SignalingServer:
    """Signaling for calls: `await start()`, hand out make_join_token(secret, room, peer, ttl), `await stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: bytes | str = b"",
        *,
        config: SignalingConfig | None = None,
        wall_clock: Callable[[], float] = time.time,  # Unix seconds: join-token expiry is wall time by protocol
        clock: Clock = MONOTONIC,
        site: WebSite | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`wall_clock` checks join-token expiry (Unix seconds); `clock` times the rate limit (FakeClock in tests).
        `site` also serves the browser participant over HTTP (codecav.net.web.site); `ssl_context` makes it all
        HTTPS and WSS (a headset's browser needs a secure origin for WebXR and the microphone)."""
        self._secret = secret_key(secret)
        self.site = site
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.config = config or SignalingConfig()
        self._wall_clock = wall_clock
        self._clock = clock
        self._rooms: dict[str, dict[str, _Peer]] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to (valid after start())."""
        return f"{'wss' if self.ssl_context else 'ws'}://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """Where a browser opens the page (valid after start(); the page is there only with a `site`)."""
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}/"

    def room_peers(self, room: str) -> tuple[str, ...]:
        """Peer ids in `room`, in join order (for tests and monitoring)."""
        return tuple(self._rooms.get(room, {}))

    async def start(self) -> None:
        """Bind and serve; with port 0 the bound port is in `self.port` afterwards."""
        if self._runner is not None:
            raise SignalingError("signaling server already started; call stop() first")
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        if self.site is not None:
            self.site.add_routes(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=self.config.close_timeout_s)
        await runner.setup()
        tcp = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        try:
            await tcp.start()
        except OSError as exc:
            await runner.cleanup()
            raise SignalingError(f"cannot listen on {self.host}:{self.port} ({exc.strerror}); pick another port") \
                from None
        self._runner = runner
        self._stopping = False
        self.port = int(runner.addresses[0][1])  # the bound port when asked for port 0

    async def stop(self) -> None:
        """Close every connection (code 1001), stop listening and await every handler and writer task."""
        if self._runner is None:
            return
        self._stopping = True
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping") for ws in list(self._sockets)),
            return_exceptions=True,
        )
        await self._runner.cleanup()
        self._runner = None
        self._rooms.clear()

    async def __aenter__(self) -> SignalingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- one connection -------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        cfg = self.config
        if len(self._sockets) >= cfg.max_connections or self._stopping:
            raise web.HTTPServiceUnavailable(text="signaling server is at its connection limit; try later")
        ws = web.WebSocketResponse(
            timeout=cfg.close_timeout_s, heartbeat=cfg.heartbeat_s, max_msg_size=4 * cfg.max_message_bytes
        )
        await ws.prepare(request)
        self._sockets.add(ws)
        bucket = TokenBucket(cfg.rate_per_s, cfg.burst, self._clock.now_s())
        peer: _Peer | None = None
        try:
            peer = await self._join(ws, bucket, request.transport)
            if peer is not None:
                await self._serve(peer, bucket)
        finally:
            self._sockets.discard(ws)
            if peer is not None:
                await self._remove(peer)
            await ws.close()
        return ws

    async def _join(
        self, ws: web.WebSocketResponse, bucket: TokenBucket, transport: asyncio.Transport | None
    ) -> _Peer | None:
        try:
            msg = await ws.receive(timeout=self.config.join_timeout_s)
        except TimeoutError:
            await self._refuse(ws, "join_timeout", "no join message within the join timeout", CLOSE_JOIN_TIMEOUT)
            return None
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.BINARY:
                await self._refuse(ws, "bad_message", "signaling messages are JSON text frames", CLOSE_REFUSED)
            return None
        bucket.take(self._clock.now_s())
        text: str = msg.data
        if len(text.encode("utf-8")) > self.config.max_message_bytes:
            await self._refuse(ws, "too_large", self._too_large_message(text), CLOSE_REFUSED)
            return None
        try:
            join = parse_client_message(text)
        except ProtocolError as exc:
            await self._refuse(ws, exc.code, str(exc), CLOSE_REFUSED)
            return None
        if not isinstance(join, Join):
            await self._refuse(ws, "not_joined", "the first message must be a join", CLOSE_REFUSED)
            return None
        try:
            verify_join_token(self._secret, join.token, join.room, join.peer, now=self._wall_clock())
        except JoinTokenError as exc:
            await self._refuse(ws, "bad_token", str(exc), CLOSE_REFUSED)
            return None
        if self._stopping:
            return None
        room = self._rooms.get(join.room)
        if room is None and len(self._rooms) >= self.config.max_rooms:
            await self._refuse(ws, "server_full", "the server holds its maximum of rooms; try later", CLOSE_REFUSED)
            return None
        room = room if room is not None else {}
        if join.peer in room:
            await self._refuse(ws, "peer_taken", f"peer id {join.peer!r} is already in room {join.room!r}; pick "
                               "another id", CLOSE_REFUSED)
            return None
        if len(room) >= self.config.max_peers_per_room:
            await self._refuse(ws, "room_full", f"room {join.room!r} already has {len(room)} peers, its limit",
                               CLOSE_REFUSED)
            return None
        peer = _Peer(join.room, join.peer, ws, asyncio.Queue(self.config.outbox_messages), transport=transport)
        others = tuple(room)
        room[join.peer] = peer
        self._rooms[join.room] = room
        peer.writer = asyncio.create_task(self._write_loop(peer), name=f"signaling-writer-{join.room}-{join.peer}")
        self._send(peer, Joined(join.room, join.peer, others))
        self._broadcast(peer, PeerJoined(join.peer))
        return peer

    async def _serve(self, peer: _Peer, bucket: TokenBucket) -> None:
        limited = False
        async for msg in peer.ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    self._send(peer, ErrorReply("bad_message", "signaling messages are JSON text frames"))
                    continue
                break  # ERROR: the connection failed
            await asyncio.sleep(0)  # let the writers run between messages already buffered
            if not bucket.take(self._clock.now_s()):
                if not limited:  # one reply per burst of dropped messages, so a flood cannot fill the outbox
                    self._send(peer, ErrorReply("rate_limited", f"more than {self.config.rate_per_s:g} messages/s; "
                                                "messages dropped until the rate falls, slow down"))
                limited = True
                continue
            limited = False
            text: str = msg.data
            if len(text.encode("utf-8")) > self.config.max_message_bytes:
                self._send(peer, ErrorReply("too_large", self._too_large_message(text)))
                continue
            try:
                parsed = parse_client_message(text)
            except ProtocolError as exc:
                self._send(peer, ErrorReply(exc.code, str(exc)))
                continue
            if isinstance(parsed, Leave):
                peer.left = True
                return
            if isinstance(parsed, Join):
                self._send(peer, ErrorReply("already_joined", f"already in room {peer.room!r} as {peer.peer_id!r}"))
                continue
            target = self._rooms.get(peer.room, {}).get(parsed.peer)
            if target is None or target is peer:
                self._send(peer, ErrorReply("unknown_peer", f"no other peer {parsed.peer!r} in room {peer.room!r}"))
                continue
            relayed: Offer | Answer | Candidate
            if isinstance(parsed, Offer):
                relayed = Offer(peer.peer_id, parsed.sdp)
            elif isinstance(parsed, Answer):
                relayed = Answer(peer.peer_id, parsed.sdp)
            else:
                relayed = Candidate(peer.peer_id, parsed.candidate, parsed.sdp_mid, parsed.sdp_mline_index)
            self._send(target, relayed)
        # The socket closed: a normal close frame from the client counts as leaving.
        if peer.ws.close_code in CLEAN_CLOSE_CODES and not peer.too_slow and not self._stopping:
            peer.left = True

    async def _remove(self, peer: _Peer) -> None:
        room = self._rooms.get(peer.room)
        if room is not None and room.get(peer.peer_id) is peer:
            del room[peer.peer_id]
            if not room:
                del self._rooms[peer.room]
            if not self._stopping:
                self._broadcast(peer, PeerLeft(peer.peer_id) if peer.left else PeerDropped(peer.peer_id))
        if peer.writer is not None:
            peer.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await peer.writer

    # -- sending --------------------------------------------------------------------------------------------------

    def _too_large_message(self, text: str) -> str:
        return f"message is {len(text.encode('utf-8'))} bytes; the limit is {self.config.max_message_bytes}"

    def _send(self, peer: _Peer, msg: ServerMessage) -> None:
        """Queue `msg` for `peer`; a peer whose queue is full is too slow and gets disconnected."""
        if peer.too_slow:
            return
        try:
            peer.outbox.put_nowait(server_message_json(msg))
        except asyncio.QueueFull:
            # The peer stopped reading: its TCP window is full, so the writer is stuck in send_str and a close
            # frame could never be delivered either. Drop the connection; the reader loop then ends and
            # _remove tells the room 'peer_dropped'.
            peer.too_slow = True
            if peer.writer is not None:
                peer.writer.cancel()
            if peer.transport is not None:
                peer.transport.abort()

    def _broadcast(self, sender: _Peer, msg: ServerMessage) -> None:
        for other in list(self._rooms.get(sender.room, {}).values()):
            if other is not sender:
                self._send(other, msg)

    async def _write_loop(self, peer: _Peer) -> None:
        while True:
            text = await peer.outbox.get()
            try:
                await peer.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the reader loop sees the closed socket and removes the peer

    async def _refuse(self, ws: web.WebSocketResponse, code: str, message: str, close_code: int) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(server_message_json(ErrorReply(code, message)))
        await ws.close(code=close_code, message=code.encode())
