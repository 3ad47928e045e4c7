"""Avatars in an SFU room travel on a feed of their own, apart from the live one.

Janus forwards a publisher's data to each subscriber over one SCTP association per subscription, reliable and
ordered, and queues (never drops) what the subscriber's association cannot take yet. An avatar transfer on the
live feed therefore sits ahead of that publisher's latent frames and pings at every subscriber: in an 8-person
room joining at once, the subscriptions of several publishers stalled for over 15 s behind their avatar rounds,
their faces never arrived, and with every avatar already cached all 56 links got all their frames.

So each participant publishes its avatar on a second feed, `PEER + AVATAR_FEED_SUFFIX`, started on the first
request, and a participant subscribes to another's avatar feed only while it still wants that avatar (see
SfuCallSession._keep_avatar_feeds). The live feed carries latent frames, voice and small control messages only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from codecav.net.peer import close_peer_connection
from codecav.net.sfu.janus_client import JanusHandle, JanusSession, Json
from codecav.net.sfu.janus_server import JanusError

AVATAR_FEED_SUFFIX = "#avatar"
"""Display name of a participant's avatar feed: its peer id + this (peer ids cannot contain '#')."""


def avatar_feed_owner(display: str) -> str | None:
    """The peer whose avatar feed `display` names, or None for a live feed."""
    return display[: -len(AVATAR_FEED_SUFFIX)] if display.endswith(AVATAR_FEED_SUFFIX) else None


def with_pin(body: Json, pin: str) -> Json:
    """A VideoRoom join request with the room's PIN, when it has one."""
    return {**body, "pin": pin} if pin else body


async def join_as_subscriber(handle: JanusHandle, room: int | str, feed: str, display: str, pin: str = "") -> Json:
    """Join `room` (with its PIN, if any) as a subscriber of `feed`; Janus's SDP offer. Retries while Janus
    answers 428 (the publisher's media is not up yet)."""
    body = with_pin({"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}, pin)
    for _attempt in range(50):
        try:
            _, jsep = await handle.message(body)
        except JanusError as exc:
            if "428" not in str(exc):
                raise
            await asyncio.sleep(0.1)
            continue
        if jsep is None:
            raise JanusError(f"Janus answered the subscription to {display} without an SDP offer")
        return jsep
    raise JanusError(f"could not subscribe to {display}: Janus kept answering 428 (no media yet)")


class AvatarPublisher:
    """Our avatar feed: a publisher PeerConnection to Janus with one reliable channel."""

    def __init__(self, rtc: RTCConfiguration) -> None:
        self.pc = RTCPeerConnection(rtc)
        self.channel: RTCDataChannel = self.pc.createDataChannel("avatar")
        self.handle: JanusHandle | None = None

    @property
    def is_open(self) -> bool:
        """Whether the channel to Janus is open."""
        return self.channel.readyState == "open"

    async def start(self, janus: JanusSession, room: int | str, display: str, pin: str = "") -> None:
        """Join `room` (with its PIN, if any) as the publisher `display` and publish the channel."""
        self.handle = await janus.attach()
        await self.handle.message(with_pin({"request": "join", "ptype": "publisher", "room": room,
                                            "display": display}, pin))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        _, jsep = await self.handle.message({"request": "publish", "audio": False, "data": True},
                                            {"type": "offer", "sdp": self.pc.localDescription.sdp})
        if jsep is None:
            raise JanusError("Janus answered the avatar feed's publish without an SDP answer")
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))

    def send(self, data: bytes) -> bool:
        """Publish one message; False while the channel is not open."""
        if not self.is_open:
            return False
        self.channel.send(data)
        return True

    def backlog(self) -> int:
        """Bytes queued on the channel."""
        return int(self.channel.bufferedAmount)

    async def close(self) -> None:
        """Unpublish and close."""
        await close_peer_connection(self.pc, "janus (avatar feed)")
        if self.handle is not None:
            await self.handle.detach()


class AvatarSubscription:
    """Our subscription to another participant's avatar feed; every message goes to `on_message`."""

    def __init__(self, owner: str, rtc: RTCConfiguration, on_message: Callable[[bytes | str], None]) -> None:
        self.owner = owner
        self.pc = RTCPeerConnection(rtc)
        self.handle: JanusHandle | None = None
        self._on_message = on_message
        self.pc.on("datachannel", lambda channel: channel.on("message", on_message))

    async def start(self, janus: JanusSession, room: int | str, feed: str, pin: str = "") -> None:
        """Subscribe to `feed` (the owner's avatar feed) and answer Janus's offer."""
        self.handle = await janus.attach()
        jsep = await join_as_subscriber(self.handle, room, feed, self.owner + AVATAR_FEED_SUFFIX, pin)
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        channel = self.pc.createDataChannel("codecav")  # Janus forwards only once the subscriber has a channel
        channel.on("message", self._on_message)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.handle.message({"request": "start"}, {"type": "answer", "sdp": self.pc.localDescription.sdp})

    async def close(self) -> None:
        """Leave the feed."""
        await close_peer_connection(self.pc, f"{self.owner}'s avatar feed")
        if self.handle is not None:
            await self.handle.detach()
