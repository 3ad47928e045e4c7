"""Signaling server over real loopback WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from codecav.clock import MONOTONIC, Clock, FakeClock
from codecav.net.errors import SignalingError
from codecav.net.signaling.client import SignalingClient
from codecav.net.signaling.messages import (
    Answer,
    Candidate,
    ErrorReply,
    Joined,
    Offer,
    PeerDropped,
    PeerJoined,
    PeerLeft,
    ServerMessage,
    parse_server_message,
    server_message_json,
)
from codecav.net.signaling.server import SignalingConfig, SignalingServer, make_join_token
from tests.net.signaling.ws_raw import RawWebSocket

SECRET = b"test-secret-0123456789abcdef-xyz"
ROOM = "room-1"


def run(body: Callable[[SignalingServer], Awaitable[None]], config: SignalingConfig | None = None,
        clock: Clock = MONOTONIC) -> None:
    """Start a server on a free loopback port (its rate limit on `clock`), run `body`, stop it and check no task is
    left behind."""

    async def main() -> None:
        server = SignalingServer("127.0.0.1", 0, SECRET, config=config, clock=clock)
        await server.start()
        try:
            await asyncio.wait_for(body(server), 10)
        finally:
            await server.stop()
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert left == [], f"tasks left after stop(): {left}"

    asyncio.run(main())


async def join(server: SignalingServer, peer: str, room: str = ROOM, ttl: float = 60) -> SignalingClient:
    """A client joined to `room` as `peer`."""
    client = SignalingClient(server.url, room, peer, make_join_token(SECRET, room, peer, ttl))
    await client.connect()
    return client


async def next_msg(client: SignalingClient) -> ServerMessage:
    """The next message, failing the test after 2 s."""
    return await client.receive(timeout=2)


def test_binds_loopback_and_reports_port() -> None:
    """Default host is 127.0.0.1 and port 0 becomes the bound port."""

    async def body(server: SignalingServer) -> None:
        assert server.host == "127.0.0.1" and server.port > 0
        assert server.url == f"ws://127.0.0.1:{server.port}/ws"

    run(body)


def test_two_peers_relay_offer_answer_candidate() -> None:
    """Alice and Bob join; an offer, an answer and a candidate are relayed with the sender's id."""

    async def body(server: SignalingServer) -> None:
        alice = await join(server, "alice")
        assert alice.joined is not None and alice.joined.peers == ()
        bob = await join(server, "bob")
        assert bob.joined is not None and bob.joined.peers == ("alice",)
        assert await next_msg(alice) == PeerJoined("bob")
        await bob.send(Offer("alice", "v=0\r\no=bob"))
        assert await next_msg(alice) == Offer("bob", "v=0\r\no=bob")
        await alice.send(Answer("bob", "v=0\r\no=alice"))
        assert await next_msg(bob) == Answer("alice", "v=0\r\no=alice")
        await alice.send(Candidate("bob", "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "0", 0))
        assert await next_msg(bob) == Candidate("alice", "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
                                                "0", 0)
        assert server.room_peers(ROOM) == ("alice", "bob")
        await alice.close()
        await bob.close()

    run(body)


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda: "not-a-token", "join token is malformed; expected v1.<expiry>.<signature> from make_join_token"),
        (lambda: make_join_token(SECRET, ROOM, "alice", 1, now=0),
         r"join token expired \d+ s ago; ask for a new one"),
        (lambda: make_join_token(SECRET, "other-room", "alice", 60),
         "join token was not issued for this room and peer by this server; ask for a new one"),
        (lambda: make_join_token(SECRET, ROOM, "mallory", 60),
         "join token was not issued for this room and peer by this server; ask for a new one"),
        (lambda: make_join_token(b"another-secret-0123456789", ROOM, "alice", 60),
         "join token was not issued for this room and peer by this server; ask for a new one"),
    ],
)
def test_bad_tokens_refused(make_token: Callable[[], str], message: str) -> None:
    """Malformed, expired, wrong-room, wrong-peer and wrong-secret tokens are refused; the server goes on."""

    async def body(server: SignalingServer) -> None:
        client = SignalingClient(server.url, ROOM, "alice", make_token())
        with pytest.raises(SignalingError, match=f"^signaling server refused the join: {message} \\(bad_token\\)$"):
            await client.connect()
        assert server.room_peers(ROOM) == ()
        ok = await join(server, "alice")
        await ok.close()

    run(body)


def test_room_full_and_peer_taken() -> None:
    """A room holds max_peers_per_room; a taken peer id is refused; other rooms are unaffected."""

    async def body(server: SignalingServer) -> None:
        a, b = await join(server, "a"), await join(server, "b")
        with pytest.raises(SignalingError, match=r"room 'room-1' already has 2 peers, its limit \(room_full\)$"):
            await join(server, "c")
        with pytest.raises(SignalingError, match=r"peer id 'a' is already in room 'room-1'.*\(peer_taken\)$"):
            await join(server, "a")
        c = await join(server, "c", room="room-2")
        for client in (a, b, c):
            await client.close()

    run(body, SignalingConfig(max_peers_per_room=2))


def test_oversized_and_garbage_refused_without_killing_anything() -> None:
    """Too-large, invalid, misaddressed and binary messages get error replies; the connection stays usable."""

    async def body(server: SignalingServer) -> None:
        alice, bob = await join(server, "alice"), await join(server, "bob")
        assert await next_msg(alice) == PeerJoined("bob")
        await bob.send(Offer("alice", "x" * 2000))
        reply = await next_msg(bob)
        assert isinstance(reply, ErrorReply) and reply.code == "too_large"
        assert reply.message.startswith("message is ") and reply.message.endswith("bytes; the limit is 1000")
        for text, code in [("{oops", "bad_json"), ('{"type": "hug", "to": "alice"}', "bad_message"),
                           (json.dumps({"type": "offer", "to": "nobody", "sdp": "x"}), "unknown_peer"),
                           (json.dumps({"type": "offer", "to": "bob", "sdp": "x"}), "unknown_peer"),
                           (json.dumps({"type": "join", "room": ROOM, "peer": "bob", "token": "t"}), "already_joined")]:
            await bob.send_text(text)
            reply = await next_msg(bob)
            assert isinstance(reply, ErrorReply) and reply.code == code, (text, reply)
        assert bob._ws is not None
        await bob._ws.send_bytes(b"\x00\x01")
        assert await next_msg(bob) == ErrorReply("bad_message", "signaling messages are JSON text frames")
        await bob.send(Offer("alice", "small"))
        assert await next_msg(alice) == Offer("bob", "small")
        # Past the hard cap (4x the limit) the WebSocket layer closes that one connection: a drop.
        await bob.send_text("y" * 5000)
        assert await next_msg(alice) == PeerDropped("bob")
        carol = await join(server, "carol")
        assert await next_msg(alice) == PeerJoined("carol")
        for client in (alice, bob, carol):
            await client.close()

    run(body, SignalingConfig(max_message_bytes=1000))


def test_rate_limit() -> None:
    """Beyond the burst, messages are dropped with one 'rate_limited' reply; once the clock has refilled a token the
    peer may send again. The server's clock is fake, so the counts are exact whatever the machine's speed."""
    clock = FakeClock()

    async def body(server: SignalingServer) -> None:
        alice = await join(server, "alice")
        bob = await RawWebSocket.connect("127.0.0.1", server.port)
        await bob.send_json({"type": "join", "room": ROOM, "peer": "bob",
                             "token": make_join_token(SECRET, ROOM, "bob", 60)})  # takes 1 of the 5 burst tokens
        assert await next_frame(bob) == (1, server_message_json(Joined(ROOM, "bob", ("alice",))).encode())
        assert await next_msg(alice) == PeerJoined("bob")
        for i in range(10):
            await bob.send_json({"type": "offer", "to": "alice", "sdp": f"o{i}"})
        # The server reads a connection's frames in order and answers a ping when it reads it: the pong means all
        # ten offers have been through the rate limit, at fake time 0.
        replies = await replies_until_pong(bob, b"after-ten")
        clock.advance(600_000_000)  # refills 1.2 tokens at 2/s
        await bob.send_json({"type": "offer", "to": "alice", "sdp": "later"})
        relayed = []
        while (msg := await next_msg(alice)) != Offer("bob", "later"):
            relayed.append(msg)
        assert relayed == [Offer("bob", f"o{i}") for i in range(4)]  # the join took one of the 5 burst tokens
        clock.advance(500_000_000)  # 0.2 + 1.0 tokens: one more message gets through, and its reply
        await bob.send_json({"type": "offer", "to": "nobody", "sdp": "x"})
        while not replies or replies[-1].code != "unknown_peer":
            opcode, payload = await next_frame(bob)
            if opcode == 1:
                reply = parse_server_message(payload.decode())
                assert isinstance(reply, ErrorReply)
                replies.append(reply)
        # One reply for the whole run of dropped messages; the outbox is in order, so nothing else came between.
        assert replies == [
            ErrorReply("rate_limited", "more than 2 messages/s; messages dropped until the rate falls, slow down"),
            ErrorReply("unknown_peer", "no other peer 'nobody' in room 'room-1'"),
        ]
        bob.abort()
        await alice.close()

    run(body, SignalingConfig(rate_per_s=2, burst=5), clock=clock)


async def next_frame(raw: RawWebSocket) -> tuple[int, bytes]:
    """The raw client's next frame, failing the test after 2 s."""
    return await asyncio.wait_for(raw.recv_frame(), 2)


async def replies_until_pong(raw: RawWebSocket, payload: bytes) -> list[ErrorReply]:
    """Ping with `payload`; the error replies read until its pong."""
    await raw.send_ping(payload)
    replies: list[ErrorReply] = []
    while (frame := await next_frame(raw)) != (10, payload):
        opcode, data = frame
        assert opcode == 1, frame
        reply = parse_server_message(data.decode())
        assert isinstance(reply, ErrorReply), reply
        replies.append(reply)
    return replies


def test_leave_close_and_drop_notices() -> None:
    """leave and a normal close give peer_left; a connection lost without a close frame gives peer_dropped."""

    async def body(server: SignalingServer) -> None:
        alice = await join(server, "alice")
        bob = await join(server, "bob")
        assert await next_msg(alice) == PeerJoined("bob")
        await bob.leave()
        assert await next_msg(alice) == PeerLeft("bob")
        carol = await join(server, "carol")
        assert await next_msg(alice) == PeerJoined("carol")
        await carol.close()
        assert await next_msg(alice) == PeerLeft("carol")
        raw = await RawWebSocket.connect("127.0.0.1", server.port)
        await raw.send_json({"type": "join", "room": ROOM, "peer": "dave",
                             "token": make_join_token(SECRET, ROOM, "dave", 60)})
        opcode, payload = await raw.recv_frame()
        assert opcode == 1 and json.loads(payload) == {"type": "joined", "room": ROOM, "peer": "dave",
                                                       "peers": ["alice"]}
        assert await next_msg(alice) == PeerJoined("dave")
        raw.abort()
        assert await next_msg(alice) == PeerDropped("dave")
        assert server.room_peers(ROOM) == ("alice",)
        await alice.close()

    run(body)


def test_slow_reader_is_dropped() -> None:
    """A peer that stops reading while messages pile up is disconnected; the others see peer_dropped."""

    async def body(server: SignalingServer) -> None:
        alice = await join(server, "alice")
        raw = await RawWebSocket.connect("127.0.0.1", server.port)
        await raw.send_json({"type": "join", "room": ROOM, "peer": "bob",
                             "token": make_join_token(SECRET, ROOM, "bob", 60)})
        assert await next_msg(alice) == PeerJoined("bob")
        sdp = "x" * 60_000
        for _ in range(400):  # 24 MB towards a socket nobody reads
            await alice.send(Offer("bob", sdp))
            if server.room_peers(ROOM) == ("alice",):
                break
        assert await next_msg(alice) == PeerDropped("bob")
        raw.abort()
        await alice.close()

    run(body, SignalingConfig(outbox_messages=4, rate_per_s=10_000, burst=10_000))


def test_connection_limit() -> None:
    """Beyond max_connections the WebSocket upgrade is refused with HTTP 503."""

    async def body(server: SignalingServer) -> None:
        alice = await join(server, "alice")
        client = SignalingClient(server.url, ROOM, "bob", make_join_token(SECRET, ROOM, "bob", 60))
        with pytest.raises(SignalingError, match=r"refused the WebSocket \(HTTP 503\); check the URL or try later$"):
            await client.connect()
        await alice.close()

    run(body, SignalingConfig(max_connections=1))


def test_join_timeout_and_first_message_must_be_join() -> None:
    """A connection that does not join in time, or starts with something else, is refused and closed."""

    async def body(server: SignalingServer) -> None:
        raw = await RawWebSocket.connect("127.0.0.1", server.port)
        opcode, payload = await raw.recv_frame()
        assert json.loads(payload) == {"type": "error", "code": "join_timeout",
                                       "message": "no join message within the join timeout"}
        opcode, payload = await raw.recv_frame()
        assert opcode == 8 and int.from_bytes(payload[:2], "big") == 4408
        raw.abort()
        raw = await RawWebSocket.connect("127.0.0.1", server.port)
        await raw.send_json({"type": "offer", "to": "x", "sdp": "x"})
        opcode, payload = await raw.recv_frame()
        assert json.loads(payload)["code"] == "not_joined"
        raw.abort()

    run(body, SignalingConfig(join_timeout_s=0.2))


def test_stop_closes_clients_and_leaves_no_tasks() -> None:
    """stop() with connected and half-connected peers ends every handler; clients see the close."""

    async def main() -> None:
        server = SignalingServer(secret=SECRET)
        await server.start()
        alice, bob = await join(server, "alice"), await join(server, "bob")
        raw = await RawWebSocket.connect("127.0.0.1", server.port)  # never joins
        pending: asyncio.Task[Any] = asyncio.create_task(alice.receive())
        assert await pending == PeerJoined("bob")
        reading = asyncio.create_task(bob.receive())
        await asyncio.wait_for(server.stop(), 5)
        with pytest.raises(SignalingError, match=r"signaling connection closed \(code 1001\)"):
            await reading
        await alice.close()
        await bob.close()
        raw.abort()
        await asyncio.sleep(0)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        await server.stop()  # idempotent

    async def bounded() -> None:
        async with asyncio.timeout(15):
            await main()

    asyncio.run(bounded())


def test_unreachable_server_and_port_in_use() -> None:
    """The client names the URL it could not reach; a second server on a taken port says so."""

    async def main() -> None:
        server = SignalingServer(secret=SECRET)
        await server.start()
        clash = SignalingServer(port=server.port, secret=SECRET)
        with pytest.raises(SignalingError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            await clash.start()
        url = server.url
        await server.stop()
        client = SignalingClient(url, ROOM, "a", make_join_token(SECRET, ROOM, "a", 60))
        with pytest.raises(SignalingError, match="cannot reach the signaling server at ws://127.0.0.1"):
            await client.connect()

    asyncio.run(main())


