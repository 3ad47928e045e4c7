"""Control-channel messages (reliable, ordered data channel): hello, clock-sync ping/pong, avatar exchange, bye.

Pure parse/serialize with the discipline of wire.py; specified in docs/wire-format.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgpack

from codecav.net.errors import (
    InvalidFieldError,
    UnknownMessageTypeError,
    UnsupportedVersionError,
    WireEncodeError,
    WireFormatError,
)
from codecav.net.wire.common import FieldReader, unpack_map

CONTROL_VERSION = 1
"""Version of the control messages this code writes and reads (field 'v')."""
MAX_CONTROL_MESSAGE_BYTES = 32768
"""Longest control message accepted or produced."""
AVATAR_CHUNK_BYTES = 16384
"""Most avatar bytes in one AvatarChunk (stays under every SCTP message-size limit)."""
MAX_AVATAR_BYTES = 512 * 1024 * 1024
"""Largest avatar package that may be offered over the control channel."""
MAX_CHUNKS = MAX_AVATAR_BYTES // AVATAR_CHUNK_BYTES
"""Most chunks in one avatar transfer."""
MAX_ID_LENGTH = 64
"""Longest peer or avatar id."""
MAX_CAPABILITIES = 32
"""Most capability strings in a Hello."""
MAX_TIME_US = 2**52
"""Largest clock-sync timestamp in microseconds."""
MAX_REASON_LENGTH = 200
"""Longest Bye reason."""
MAX_REASON_KEY_LENGTH = 64
"""Longest refusal reason key (AvatarRefused)."""

_ID = re.compile(r"[A-Za-z0-9._-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REASON_KEY = re.compile(r"[a-z0-9_:.-]+")
_WHAT = "control message"


@dataclass(frozen=True)
class Hello:
    """First message each side sends: who it is, which avatar it will drive, what it can do."""

    peer_id: str
    """Sender's peer id ([A-Za-z0-9._-], 1-64 characters)."""
    avatar_id: str
    """Id of the avatar package the sender's codes are for."""
    avatar_sha256: str
    """Lowercase hex sha256 of that package file; the receiver requests it if it lacks it."""
    capabilities: tuple[str, ...] = ()
    """Feature names, e.g. ('int8', 'fp16', 'gaze')."""


@dataclass(frozen=True)
class Ping:
    """Clock-sync request: sent at t0 on the sender's clock."""

    sequence: int
    """Matches the Pong to its Ping."""
    t0_us: int
    """Send time on the pinger's clock (µs)."""


@dataclass(frozen=True)
class Pong:
    """Clock-sync answer; the pinger notes t3 when it arrives (see clock_sync.py)."""

    sequence: int
    """The Ping's sequence."""
    t0_us: int
    """The Ping's t0, echoed."""
    t1_us: int
    """Ping arrival on the ponger's clock (µs)."""
    t2_us: int
    """Pong send time on the ponger's clock (µs)."""


@dataclass(frozen=True)
class AvatarRequest:
    """Ask the peer for the avatar package it announced in Hello."""

    avatar_id: str
    """Requested avatar id."""
    avatar_sha256: str
    """Requested package digest."""


@dataclass(frozen=True)
class AvatarChunk:
    """One piece of a requested avatar package, sent in order."""

    avatar_sha256: str
    """Digest of the package being sent."""
    index: int
    """Chunk number, from 0."""
    data: bytes
    """Up to AVATAR_CHUNK_BYTES of the package."""


@dataclass(frozen=True)
class AvatarDone:
    """End of an avatar transfer; the receiver checks size, count and digest."""

    avatar_sha256: str
    """Digest of the whole package."""
    total_bytes: int
    """Package size."""
    chunk_count: int
    """Number of AvatarChunk messages sent."""


@dataclass(frozen=True)
class Bye:
    """The sender is leaving the call."""

    reason: str = ""
    """Short human-readable reason, may be empty."""


@dataclass(frozen=True)
class AvatarRefused:
    """The sender refused the avatar package the receiver offered it: it cannot show the receiver."""

    avatar_sha256: str
    """Digest of the refused package."""
    reason: str
    """The refusal's reason key, as counted in the refuser's call stats (e.g. 'hash_mismatch',
    'invalid_package:operator_not_allowed'): lowercase letters, digits and '_:.-' only."""


ControlMessage = Hello | Ping | Pong | AvatarRequest | AvatarChunk | AvatarDone | Bye | AvatarRefused
"""Any control-channel message."""


def _fields_of(msg: ControlMessage) -> dict[str, Any]:
    if isinstance(msg, Hello):
        return {"m": "hello", "peer": msg.peer_id, "avatar": msg.avatar_id, "sha": msg.avatar_sha256,
                "caps": list(msg.capabilities)}
    if isinstance(msg, Ping):
        return {"m": "ping", "n": msg.sequence, "t0": msg.t0_us}
    if isinstance(msg, Pong):
        return {"m": "pong", "n": msg.sequence, "t0": msg.t0_us, "t1": msg.t1_us, "t2": msg.t2_us}
    if isinstance(msg, AvatarRequest):
        return {"m": "avreq", "avatar": msg.avatar_id, "sha": msg.avatar_sha256}
    if isinstance(msg, AvatarChunk):
        return {"m": "avchunk", "sha": msg.avatar_sha256, "i": msg.index, "data": bytes(msg.data)}
    if isinstance(msg, AvatarDone):
        return {"m": "avdone", "sha": msg.avatar_sha256, "size": msg.total_bytes, "chunks": msg.chunk_count}
    if isinstance(msg, Bye):
        return {"m": "bye", "why": msg.reason}
    if isinstance(msg, AvatarRefused):
        return {"m": "avrefused", "sha": msg.avatar_sha256, "why": msg.reason}
    raise WireEncodeError(f"cannot encode {type(msg).__name__} as a control message")


def encode_control_message(msg: ControlMessage) -> bytes:
    """Serialize `msg`; WireEncodeError (with the decoder's message) if a field is out of range."""
    try:
        data: bytes = msgpack.packb({"v": CONTROL_VERSION, **_fields_of(msg)}, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireEncodeError(f"cannot encode {type(msg).__name__}: a field has the wrong type ({exc})") from None
    try:
        decode_control_message(data)  # one set of rules for both directions
    except WireFormatError as exc:
        raise WireEncodeError(str(exc)) from None
    return data


def _ident(reader: FieldReader, key: str, name: str) -> str:
    value = reader.get_str(key, name, MAX_ID_LENGTH, min_len=1)
    if not _ID.fullmatch(value):
        raise InvalidFieldError(f"{reader.what} field {key!r} ({name}) may only hold letters, digits, '.', '_', '-'")
    return value


def _sha(reader: FieldReader) -> str:
    value = reader.get_str("sha", "avatar sha256", 64, min_len=64)
    if not _SHA256.fullmatch(value):
        raise InvalidFieldError(f"{reader.what} field 'sha' (avatar sha256) must be 64 lowercase hex digits")
    return value


def _time(reader: FieldReader, key: str) -> int:
    return reader.get_int(key, key + " timestamp", 0, MAX_TIME_US)


def decode_control_message(data: bytes) -> ControlMessage:
    """Parse one control message; raises WireFormatError subclasses with one-line messages."""
    fields = unpack_map(data, _WHAT, MAX_CONTROL_MESSAGE_BYTES)
    reader = FieldReader(fields, _WHAT)
    version = reader.get_int("v", "version", 0, 2**32)
    if version != CONTROL_VERSION:
        raise UnsupportedVersionError(f"{_WHAT} has version {version}; this codecav reads {CONTROL_VERSION}")
    kind = reader.get_str("m", "message type", 16, min_len=1)
    reader.what = f"{kind} message" if kind in _KINDS else _WHAT
    if kind == "hello":
        caps = reader.get_str_list("caps", "capabilities", MAX_CAPABILITIES, 32)
        return Hello(_ident(reader, "peer", "peer id"), _ident(reader, "avatar", "avatar id"), _sha(reader), caps)
    if kind == "ping":
        return Ping(reader.get_int("n", "sequence", 0, 2**32 - 1), _time(reader, "t0"))
    if kind == "pong":
        return Pong(reader.get_int("n", "sequence", 0, 2**32 - 1), _time(reader, "t0"), _time(reader, "t1"),
                    _time(reader, "t2"))
    if kind == "avreq":
        return AvatarRequest(_ident(reader, "avatar", "avatar id"), _sha(reader))
    if kind == "avchunk":
        index = reader.get_int("i", "chunk index", 0, MAX_CHUNKS - 1)
        return AvatarChunk(_sha(reader), index, reader.get_bin("data", "chunk data", AVATAR_CHUNK_BYTES))
    if kind == "avdone":
        size = reader.get_int("size", "total bytes", 0, MAX_AVATAR_BYTES)
        return AvatarDone(_sha(reader), size, reader.get_int("chunks", "chunk count", 0, MAX_CHUNKS))
    if kind == "bye":
        why = reader.get_str("why", "reason", MAX_REASON_LENGTH) if "why" in fields else ""
        return Bye(why)
    if kind == "avrefused":
        digest = _sha(reader)
        why = reader.get_str("why", "reason key", MAX_REASON_KEY_LENGTH, min_len=1)
        if not _REASON_KEY.fullmatch(why):
            raise InvalidFieldError(f"{reader.what} field 'why' (reason key) may only hold a-z, 0-9, '_', ':', '.', "
                                    "'-'")
        return AvatarRefused(digest, why)
    raise UnknownMessageTypeError(f"{_WHAT} has unknown type {kind!r}; version 1 knows {', '.join(_KINDS)}")


_KINDS = ("hello", "ping", "pong", "avreq", "avchunk", "avdone", "bye", "avrefused")
