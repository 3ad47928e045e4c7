"""Messages of the signaling protocol: JSON text frames over a WebSocket (pure parse/serialize).

Specified in docs/signaling.md. Relay messages (offer, answer, candidate) name the other party in `peer`:
the addressee when a client sends one (JSON key "to"), the sender when the server delivers it (key "from").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from codecav.bounded_json import loads_bounded
from codecav.net.errors import SignalingError

MAX_ID_LENGTH = 64
"""Longest room or peer id."""
MAX_SDP_LENGTH = 60_000
"""Longest SDP text in an offer or answer."""
MAX_CANDIDATE_LENGTH = 1024
"""Longest ICE candidate line."""
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ProtocolError(SignalingError):
    """A signaling message is not valid JSON of a known type with valid fields; `code` is sent to the peer."""

    def __init__(self, message: str, code: str = "bad_message") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Join:
    """Client -> server, first message: join `room` as `peer` with a token from make_join_token."""

    room: str
    """Room id ([A-Za-z0-9._-], 1-64 characters)."""
    peer: str
    """Peer id, unique in the room (same characters)."""
    token: str
    """Join token for this room and peer."""


@dataclass(frozen=True)
class Leave:
    """Client -> server: leaving on purpose (the others get peer_left, not peer_dropped)."""


@dataclass(frozen=True)
class Offer:
    """SDP offer relayed between two peers of a room."""

    peer: str
    """Addressee when sent by a client; sender when delivered by the server."""
    sdp: str
    """Session description text."""


@dataclass(frozen=True)
class Answer:
    """SDP answer relayed between two peers of a room."""

    peer: str
    """Addressee when sent by a client; sender when delivered by the server."""
    sdp: str
    """Session description text."""


@dataclass(frozen=True)
class Candidate:
    """Trickled ICE candidate relayed between two peers of a room."""

    peer: str
    """Addressee when sent by a client; sender when delivered by the server."""
    candidate: str
    """The candidate line ('candidate:...'); empty marks the end of candidates."""
    sdp_mid: str | None = None
    """Media stream id the candidate belongs to."""
    sdp_mline_index: int | None = None
    """Index of the m-line the candidate belongs to."""


@dataclass(frozen=True)
class Joined:
    """Server -> client: the join succeeded."""

    room: str
    """The room joined."""
    peer: str
    """Own peer id."""
    peers: tuple[str, ...]
    """Peers already in the room, in join order."""


@dataclass(frozen=True)
class PeerJoined:
    """Server -> client: another peer joined the room."""

    peer: str
    """Its peer id."""


@dataclass(frozen=True)
class PeerLeft:
    """Server -> client: a peer left on purpose (leave message or a normal WebSocket close)."""

    peer: str
    """Its peer id."""


@dataclass(frozen=True)
class PeerDropped:
    """Server -> client: a peer's connection ended without leaving (lost, timed out, too slow)."""

    peer: str
    """Its peer id."""


@dataclass(frozen=True)
class ErrorReply:
    """Server -> client: a message was refused; fatal ones are followed by a close."""

    code: str
    """Stable machine-readable code, e.g. 'rate_limited' (see docs/signaling.md)."""
    message: str
    """One line saying what was wrong and what to do."""


MAX_JSON_DEPTH = 8
"""Deepest nesting a signaling message may have (the protocol's deepest is 2)."""

RelayMessage = Offer | Answer | Candidate
ClientMessage = Join | Leave | Offer | Answer | Candidate
ServerMessage = Joined | PeerJoined | PeerLeft | PeerDropped | ErrorReply | Offer | Answer | Candidate


def _load(text: str) -> dict[str, Any]:
    try:
        obj = loads_bounded(text, max_depth=MAX_JSON_DEPTH)  # NaN and Infinity refused too
    except ValueError:
        raise ProtocolError("signaling message is not valid JSON", "bad_json") from None
    if not isinstance(obj, dict):
        raise ProtocolError("signaling message must be a JSON object")
    return obj


def _str(obj: dict[str, Any], key: str, max_len: int, *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"{obj.get('type')} message needs a string '{key}'")
    if len(value) > max_len or (not value and not allow_empty):
        raise ProtocolError(f"{obj.get('type')} message field '{key}' must have 1 to {max_len} characters")
    return value


def _ident(obj: dict[str, Any], key: str) -> str:
    value = _str(obj, key, MAX_ID_LENGTH)
    if not _ID.fullmatch(value):
        raise ProtocolError(f"{obj.get('type')} message field '{key}' may only hold letters, digits, '.', '_', '-'")
    return value


def _relay(obj: dict[str, Any], kind: str, peer_key: str) -> RelayMessage:
    peer = _ident(obj, peer_key)
    if kind == "offer":
        return Offer(peer, _str(obj, "sdp", MAX_SDP_LENGTH))
    if kind == "answer":
        return Answer(peer, _str(obj, "sdp", MAX_SDP_LENGTH))
    mid = obj.get("sdpMid")
    index = obj.get("sdpMLineIndex")
    if mid is not None and (not isinstance(mid, str) or len(mid) > MAX_ID_LENGTH):
        raise ProtocolError(f"candidate message field 'sdpMid' must be a string of up to {MAX_ID_LENGTH} characters")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1024):
        raise ProtocolError("candidate message field 'sdpMLineIndex' must be an int in [0, 1023]")
    return Candidate(peer, _str(obj, "candidate", MAX_CANDIDATE_LENGTH, allow_empty=True), mid, index)


def parse_client_message(text: str) -> ClientMessage:
    """Parse what a client sent; ProtocolError with a one-line message otherwise."""
    obj = _load(text)
    kind = obj.get("type")
    if kind == "join":
        return Join(_ident(obj, "room"), _ident(obj, "peer"), _str(obj, "token", 256))
    if kind == "leave":
        return Leave()
    if kind in ("offer", "answer", "candidate"):
        return _relay(obj, kind, "to")
    raise ProtocolError(
        f"unknown signaling message type {str(kind)[:32]!r}; send join, offer, answer, candidate or leave"
    )


def parse_server_message(text: str) -> ServerMessage:
    """Parse what the server sent; ProtocolError with a one-line message otherwise."""
    obj = _load(text)
    kind = obj.get("type")
    if kind == "joined":
        peers = obj.get("peers")
        if not isinstance(peers, list) or not all(isinstance(p, str) and _ID.fullmatch(p) for p in peers):
            raise ProtocolError("joined message needs 'peers', a list of peer ids")
        return Joined(_ident(obj, "room"), _ident(obj, "peer"), tuple(peers))
    if kind in ("peer_joined", "peer_left", "peer_dropped"):
        peer = _ident(obj, "peer")
        if kind == "peer_joined":
            return PeerJoined(peer)
        return PeerLeft(peer) if kind == "peer_left" else PeerDropped(peer)
    if kind == "error":
        return ErrorReply(_str(obj, "code", 64), _str(obj, "message", 1024))
    if kind in ("offer", "answer", "candidate"):
        return _relay(obj, kind, "from")
    raise ProtocolError(f"unknown signaling message type {str(kind)[:32]!r} from the server; update codecav")


def _relay_fields(msg: RelayMessage) -> dict[str, Any]:
    if isinstance(msg, Offer):
        return {"type": "offer", "sdp": msg.sdp}
    if isinstance(msg, Answer):
        return {"type": "answer", "sdp": msg.sdp}
    return {
        "type": "candidate",
        "candidate": msg.candidate,
        "sdpMid": msg.sdp_mid,
        "sdpMLineIndex": msg.sdp_mline_index,
    }


def client_message_json(msg: ClientMessage) -> str:
    """JSON text of a message a client sends."""
    if isinstance(msg, Join):
        fields: dict[str, Any] = {"type": "join", "room": msg.room, "peer": msg.peer, "token": msg.token}
    elif isinstance(msg, Leave):
        fields = {"type": "leave"}
    else:
        fields = {**_relay_fields(msg), "to": msg.peer}
    return json.dumps(fields, separators=(",", ":"))


def server_message_json(msg: ServerMessage) -> str:
    """JSON text of a message the server sends."""
    if isinstance(msg, Joined):
        fields: dict[str, Any] = {"type": "joined", "room": msg.room, "peer": msg.peer, "peers": list(msg.peers)}
    elif isinstance(msg, PeerJoined | PeerLeft | PeerDropped):
        kind = {PeerJoined: "peer_joined", PeerLeft: "peer_left", PeerDropped: "peer_dropped"}[type(msg)]
        fields = {"type": kind, "peer": msg.peer}
    elif isinstance(msg, ErrorReply):
        fields = {"type": "error", "code": msg.code, "message": msg.message}
    else:
        fields = {**_relay_fields(msg), "from": msg.peer}
    return json.dumps(fields, separators=(",", ":"))

