"""Signaling messages and join tokens (pure)."""

from __future__ import annotations

import pytest

from codecav.net.errors import JoinTokenError
from codecav.net.signaling.join_token import make_join_token, verify_join_token
from codecav.net.signaling.messages import (
    Answer,
    Candidate,
    ClientMessage,
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
    client_message_json,
    parse_client_message,
    parse_server_message,
    server_message_json,
)

SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "msg",
    [Join("room-1", "alice", "v1.1.x"), Leave(), Offer("bob", "v=0\r\n"), Answer("bob", "v=0"),
     Candidate("bob", "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "0", 0), Candidate("bob", "")],
)
def test_client_round_trip(msg: ClientMessage) -> None:
    """Client messages survive JSON."""
    assert parse_client_message(client_message_json(msg)) == msg


@pytest.mark.parametrize(
    "msg",
    [Joined("r", "alice", ("bob", "carol")), PeerJoined("x"), PeerLeft("x"), PeerDropped("x"),
     ErrorReply("rate_limited", "slow down"), Offer("alice", "v=0"), Candidate("alice", "c", None, 3)],
)
def test_server_round_trip(msg: ServerMessage) -> None:
    """Server messages survive JSON."""
    assert parse_server_message(server_message_json(msg)) == msg


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("{", "bad_json", "signaling message is not valid JSON"),
        ('{"type": "offer", "to": "b", "sdp": NaN}', "bad_json", "signaling message is not valid JSON"),
        ("[1]", "bad_message", "signaling message must be a JSON object"),
        ('{"type": "dance"}', "bad_message",
         "unknown signaling message type 'dance'; send join, offer, answer, candidate or leave"),
        ('{"type": "offer", "to": "b"}', "bad_message", "offer message needs a string 'sdp'"),
        ('{"type": "offer", "to": "a b", "sdp": "x"}', "bad_message",
         "offer message field 'to' may only hold letters, digits, '.', '_', '-'"),
        ('{"type": "join", "room": "' + "r" * 65 + '", "peer": "p", "token": "t"}', "bad_message",
         "join message field 'room' must have 1 to 64 characters"),
        ('{"type": "candidate", "to": "b", "candidate": "c", "sdpMLineIndex": true}', "bad_message",
         "candidate message field 'sdpMLineIndex' must be an int in [0, 1023]"),
        ("[" * 100000 + "]" * 100000, "bad_json", "signaling message is not valid JSON"),
    ],
)
def test_client_message_errors(text: str, code: str, message: str) -> None:
    """Bad client messages give a code and an exact one-line message."""
    with pytest.raises(ProtocolError) as info:
        parse_client_message(text)
    assert (info.value.code, str(info.value)) == (code, message)


def test_tokens() -> None:
    """Tokens bind room, peer and expiry; verification checks the signature before the expiry."""
    token = make_join_token(SECRET, "room", "alice", 60, now=1000.0)
    assert token.startswith("v1.1060.")
    assert verify_join_token(SECRET, token, "room", "alice", now=1059.5) == 1060
    with pytest.raises(JoinTokenError, match=r"^join token expired 5 s ago; ask for a new one$"):
        verify_join_token(SECRET, token, "room", "alice", now=1065.0)
    wrong = "join token was not issued for this room and peer by this server; ask for a new one"
    for room, peer, secret in [("other", "alice", SECRET), ("room", "bob", SECRET), ("room", "alice", SECRET[::-1])]:
        with pytest.raises(JoinTokenError) as info:
            verify_join_token(secret, token, room, peer, now=1000.0)
        assert str(info.value) == wrong
    forged = token.replace("v1.1060.", "v1.9999.")
    with pytest.raises(JoinTokenError, match="not issued"):
        verify_join_token(SECRET, forged, "room", "alice", now=1000.0)
    for bad in ["", "v2.1.x", "v1.-5.x", "v1.1060", "x" * 500, "v1.1060.é"]:
        with pytest.raises(JoinTokenError, match="malformed|not issued"):
            verify_join_token(SECRET, bad, "room", "alice", now=1000.0)
    with pytest.raises(ValueError, match="use at least 16"):
        make_join_token(b"short", "room", "alice", 60)
    with pytest.raises(ValueError, match="ttl must be a positive"):
        make_join_token(SECRET, "room", "alice", 0)
