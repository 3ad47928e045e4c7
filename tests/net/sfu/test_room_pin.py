"""The SFU room PIN: derived from the call's secret, the same for everyone holding it, different per room and per
secret; a room that exists without a PIN is refused in one line rather than joined open."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from codecav.net.sfu.janus_server import JanusError
from codecav.net.sfu.room_pin import sfu_room_pin
from codecav.net.sfu.session import check_room_locked

SECRET = "0123456789abcdef0123456789abcdef"


def test_the_pin_is_the_secrets_and_the_rooms() -> None:
    pin = sfu_room_pin(SECRET, "standup")
    assert pin == sfu_room_pin(SECRET.encode(), "standup") and len(pin) == 32 and int(pin, 16) >= 0
    assert pin != sfu_room_pin(SECRET, "standup2") and pin != sfu_room_pin(SECRET[::-1], "standup")
    with pytest.raises(ValueError, match="at least"):
        sfu_room_pin("short", "standup")


class _ListingHandle:
    """Answers VideoRoom 'list' with the rooms given (a stand-in: the real Janus run is tests/net/sfu/
    test_session.py; making another party's open room there is not needed to check this decision)."""

    def __init__(self, rooms: list[dict[str, Any]]) -> None:
        self.rooms = rooms

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        assert body == {"request": "list"}
        return {"videoroom": "success", "list": self.rooms}


@pytest.mark.parametrize("rooms", [[{"room": "standup", "pin_required": False}], [{"room": "other"}], []])
def test_a_room_someone_made_open_is_refused(rooms: list[dict[str, Any]]) -> None:
    with pytest.raises(JanusError, match="exists without a PIN") as info:
        asyncio.run(check_room_locked(_ListingHandle(rooms), "standup"))  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_a_locked_room_is_joined() -> None:
    handle = _ListingHandle([{"room": "standup", "pin_required": True}])
    asyncio.run(check_room_locked(handle, "standup"))  # type: ignore[arg-type]
