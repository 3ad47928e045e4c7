"""A small client of the signaling server: join a room, send offers/answers/candidates, read notices."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from codecav.net.errors import SignalingError
from codecav.net.signaling.messages import (
    ErrorReply,
    Join,
    Joined,
    Leave,
    ProtocolError,
    RelayMessage,
    ServerMessage,
    client_message_json,
    parse_server_message,
)


class SignalingClient:
    """One peer's connection: `await connect()` joins, `send()` relays, `receive()` reads, `close()` ends it."""

    def __init__(self, url: str, room: str, peer: str, token: str, *, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.room = room
        self.peer = peer
        self._token = token
        self._connect_timeout_s = connect_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.joined: Joined | None = None
        """The server's answer to the join, once connected."""

    async def connect(self) -> Joined:
        """Open the WebSocket and join; SignalingError with the server's one-line reason if refused."""
        if self._ws is not None:
            raise SignalingError("signaling client already connected; close() it first")
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(
                self.url, timeout=aiohttp.ClientWSTimeout(ws_close=2.0), heartbeat=None
            )
            await self._ws.send_str(client_message_json(Join(self.room, self.peer, self._token)))
            reply = await self.receive(timeout=self._connect_timeout_s)
        except aiohttp.WSServerHandshakeError as exc:
            await self.close()
            raise SignalingError(f"signaling server at {self.url} refused the WebSocket (HTTP {exc.status}); "
                                 "check the URL or try later") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.close()
            raise SignalingError(f"cannot reach the signaling server at {self.url} ({exc}); is it running?") from None
        except SignalingError:
            await self.close()
            raise
        if isinstance(reply, ErrorReply):
            await self.close()
            raise SignalingError(f"signaling server refused the join: {reply.message} ({reply.code})")
        if not isinstance(reply, Joined):
            await self.close()
            raise SignalingError(f"signaling server answered the join with {type(reply).__name__}; update codecav")
        self.joined = reply
        return reply

    async def send(self, msg: RelayMessage) -> None:
        """Send an offer, answer or candidate to `msg.peer` in the same room."""
        if self._ws is None or self._ws.closed:
            raise SignalingError("signaling connection is closed; connect() again")
        await self._ws.send_str(client_message_json(msg))

    async def send_text(self, text: str) -> None:
        """Send raw text (for tests of the server's validation)."""
        if self._ws is None or self._ws.closed:
            raise SignalingError("signaling connection is closed; connect() again")
        await self._ws.send_str(text)

    async def receive(self, timeout: float | None = None) -> ServerMessage:
        """The next server message; SignalingError when the connection closes, TimeoutError after `timeout` s."""
        ws = self._ws  # close() may run meanwhile and forget it
        if ws is None:
            raise SignalingError("signaling client is not connected; call connect() first")
        msg = await ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            try:
                return parse_server_message(msg.data)
            except ProtocolError as exc:
                raise SignalingError(f"signaling server sent an invalid message: {exc}") from None
        code = ws.close_code
        raise SignalingError(f"signaling connection closed (code {code}); connect() again to rejoin")

    async def leave(self) -> None:
        """Tell the room this peer is leaving on purpose, then close."""
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                await self._ws.send_str(client_message_json(Leave()))
        await self.close()

    async def close(self) -> None:
        """Close the WebSocket (normal close: the others see peer_left) and the HTTP session."""
        ws, session = self._ws, self._session
        self._ws, self._session = None, None
        if ws is not None:
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError, asyncio.TimeoutError):
                await ws.close()
        if session is not None:
            await session.close()

    async def __aenter__(self) -> SignalingClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
