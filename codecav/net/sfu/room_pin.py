"""The PIN of an SFU room, derived from the call's shared secret: everyone holding `--secret-file` computes the same
PIN for a room, nobody without it can join (Janus VideoRoom `pin`) or destroy it (`secret`)."""

from __future__ import annotations

import hashlib
import hmac

from codecav.net.signaling.join_token import secret_key


def sfu_room_pin(secret: bytes | str, room: str) -> str:
    """32 hex digits of HMAC-SHA256(secret, the room's name); ValueError if the secret is too short."""
    mac = hmac.new(secret_key(secret), f"codecav-sfu-room-pin-v1\n{room}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]
