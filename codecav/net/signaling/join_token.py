"""Join tokens for the signaling server: HMAC-SHA256 over room, peer id and expiry.

Format: ``v1.<expiry>.<signature>``, where expiry is a Unix time in whole seconds and signature is the unpadded
base64url HMAC-SHA256, keyed with the server secret, of ``codecav-join-v1\\n<room>\\n<peer>\\n<expiry>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time

from codecav.net.errors import JoinTokenError

MIN_SECRET_BYTES = 16
"""Shortest accepted server secret."""
MAX_TOKEN_LENGTH = 128
"""Longest token string accepted (a valid one is about 60 characters)."""


def secret_key(secret: bytes | str) -> bytes:
    """The secret as bytes; ValueError if it is too short to sign tokens safely."""
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"signaling secret has {len(key)} bytes; use at least {MIN_SECRET_BYTES} "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return key


def _signature(key: bytes, room: str, peer: str, expiry: int) -> str:
    mac = hmac.new(key, f"codecav-join-v1\n{room}\n{peer}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def make_join_token(secret: bytes | str, room: str, peer: str, ttl: float, *, now: float | None = None) -> str:
    """A token that lets `peer` join `room` for `ttl` seconds from `now` (default: the current Unix time)."""
    if not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"join token ttl must be a positive number of seconds, got {ttl}")
    issued = time.time() if now is None else now  # wall clock: the expiry is a Unix time by protocol
    expiry = math.ceil(issued + ttl)
    return f"v1.{expiry}.{_signature(secret_key(secret), room, peer, expiry)}"


def verify_join_token(secret: bytes | str, token: str, room: str, peer: str, *, now: float | None = None) -> int:
    """The token's expiry if it is valid for `room` and `peer` at `now`; JoinTokenError otherwise."""
    key = secret_key(secret)
    parts = token.split(".") if len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit() or len(parts[1]) > 12:
        raise JoinTokenError("join token is malformed; expected v1.<expiry>.<signature> from make_join_token")
    expiry = int(parts[1])
    if not hmac.compare_digest(parts[2].encode("ascii", "replace"), _signature(key, room, peer, expiry).encode()):
        raise JoinTokenError("join token was not issued for this room and peer by this server; ask for a new one")
    current = time.time() if now is None else now  # wall clock: the expiry is a Unix time by protocol
    if current >= expiry:
        raise JoinTokenError(f"join token expired {math.ceil(current - expiry)} s ago; ask for a new one")
    return expiry
