"""SfuCallSession: the CallSession API through a Janus VideoRoom (an SFU), for rooms beyond a 6-person mesh.

Each participant publishes one PeerConnection to Janus (a data channel and, optionally, Opus voice) and
subscribes to every other publisher (one PeerConnection per feed). Janus forwards data-channel messages to the
subscribers, reliable and ordered whatever the publisher asked. The publisher has two channels to Janus,
`latent` (unordered, no retransmissions: a frame lost on this leg is gone) and `control` (reliable: avatar
chunks must not be lost), and messages carry a one-byte envelope:

    b"L" + latent frame                                   to everyone
    b"C" + len(to) (1 byte) + to (peer id) + control msg   to one peer (the others drop it), or to everyone
                                                           when `to` is "*" (the avatar, see avatar_broadcast)

A participant's avatar goes out on a second feed of its own, which the others subscribe to only while they
fetch it (see avatar_feed): on the live feed, it would hold back latent frames and pings at every subscriber.

Janus 1.1.2 queues rather than drops under SCTP back-pressure, so the sender keeps the latest-wins rule on its
publisher channel (PeerConfig.latent_max_buffered_bytes), and the receiver's jitter buffer drops frames whose
time has been played. The CallConfig's `signal_url` is the Janus HTTP API URL; `token` is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.exceptions import InvalidAccessError, InvalidStateError

from codecav.clock import MONOTONIC, Clock
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_base import CallBase, new_remote_voice, voice_packet_handler
from codecav.net.call_session import next_relink_wait
from codecav.net.call_types import CallConfig
from codecav.net.errors import NetError
from codecav.net.peer import (
    LinkTimes,
    PeerLinkStats,
    close_peer_connection,
    quiet_aiortc_teardown,
    use_host_addresses,
    use_loopback_ice,
    watch_connection,
)
from codecav.net.remote_peer import FrameListener, RemotePeer
from codecav.net.rtp_tap import ReceiverTap, negotiate_opus_voice, tap_audio_track
from codecav.net.sfu.avatar_broadcast import AvatarBroadcast
from codecav.net.sfu.avatar_feed import (
    AVATAR_FEED_SUFFIX,
    AvatarPublisher,
    AvatarSubscription,
    avatar_feed_owner,
    join_as_subscriber,
    with_pin,
)
from codecav.net.sfu.janus_client import JanusHandle, JanusSession
from codecav.net.sfu.janus_server import JanusError
from codecav.net.tasks import cancel_and_wait
from codecav.net.voice_baseline import DecodedVoice, consume_voice

log = logging.getLogger(__name__)

LATENT = b"L"
"""Envelope of a latent frame."""
CONTROL = b"C"
"""Envelope of a control message for one peer."""
EVERYONE = "*"
"""The envelope address of a control message for every subscriber."""
MAX_SFU_PUBLISHERS = 32
"""Publishers a room created by this client holds."""
AVATAR_BACKOFF_KEY = "avatar feed of "
"""Prefix of an avatar feed's key in the subscription backoff (beside the live feeds', keyed by participant)."""


def control_envelope(to: str, data: bytes) -> bytes:
    """b"C" + len(to) + to + data."""
    peer = to.encode()
    return CONTROL + bytes([len(peer)]) + peer + data


def open_envelope(data: bytes | str, me: str) -> tuple[str, bytes] | None:
    """('latent' | 'control', payload) of a message for `me`; None for control messages to others or bad ones."""
    if not isinstance(data, bytes) or not data:
        return None
    if data[:1] == LATENT:
        return "latent", data[1:]
    if data[:1] == CONTROL and len(data) >= 2:
        size = data[1]
        to = data[2 : 2 + size].decode("utf-8", "replace")
        return ("control", data[2 + size :]) if to in (me, EVERYONE) else None
    return None


def _rtc_config(config: CallConfig) -> RTCConfiguration:
    negotiate_opus_voice()
    if config.peer.host_addresses:
        use_host_addresses(config.peer.host_addresses)
    elif config.peer.loopback_only:
        use_loopback_ice()
    return RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in config.peer.ice_servers])


class Publisher:
    """This participant's PeerConnection to Janus: the channel every message goes out on."""

    def __init__(self, config: CallConfig, voice: MediaStreamTrack | None) -> None:
        self.config = config
        self.pc = RTCPeerConnection(_rtc_config(config))
        # Two channels to Janus: latent frames may be lost on this leg, control messages (avatar chunks) not.
        self.channel: RTCDataChannel = self.pc.createDataChannel("latent", ordered=False, maxRetransmits=0)
        self.control: RTCDataChannel = self.pc.createDataChannel("control")
        if voice is not None:
            self.pc.addTransceiver(voice, direction="sendonly")
        self.latent_sent = 0
        self.latent_sent_bytes = 0
        self.dropped_congested = 0

    @property
    def is_open(self) -> bool:
        """Whether both channels to Janus are open."""
        return self.channel.readyState == "open" and self.control.readyState == "open"

    def send_latent(self, data: bytes) -> bool:
        """Latest wins, as PeerLink.send_latent."""
        if not self.is_open:
            return False
        if self.channel.bufferedAmount > self.config.peer.latent_max_buffered_bytes:
            self.dropped_congested += 1
            return False
        self.channel.send(LATENT + data)
        self.latent_sent += 1
        self.latent_sent_bytes += len(data)
        return True


class FeedLink:
    """One remote publisher as a RemotePeer's ControlLink: receives on our subscription to its feed, sends
    through our publisher addressed to it."""

    def __init__(self, peer_id: str, publisher: Publisher, pc: RTCPeerConnection, handle: JanusHandle) -> None:
        self.peer_id = peer_id
        self.publisher = publisher
        self.pc = pc
        self.handle = handle
        self.channels: list[RTCDataChannel] = []
        self.stats = PeerLinkStats()
        self.times = LinkTimes()
        """When the subscription's ICE and DTLS came up."""
        self.audio_tap: ReceiverTap | None = None
        """The tapped receiver of the feed's voice, once its track arrived."""

    @property
    def is_open(self) -> bool:
        """Our publisher channel and a channel of the subscription are open."""
        return self.publisher.is_open and any(c.readyState == "open" for c in self.channels)

    async def wait_open(self) -> None:
        """Until is_open; NetError after the connect timeout."""
        timeout = self.config_timeout
        try:
            async with asyncio.timeout(timeout):
                while not self.is_open:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise NetError(f"subscription to {self.peer_id} through Janus did not open within {timeout:g} s") \
                from None

    @property
    def config_timeout(self) -> float:
        """The PeerConfig connect timeout."""
        return self.publisher.config.peer.connect_timeout_s

    def send_control(self, data: bytes) -> None:
        """To this peer through Janus (everyone gets it; the others drop it)."""
        if not self.publisher.is_open:
            raise NetError("the channel to Janus is not open")
        self.publisher.control.send(control_envelope(self.peer_id, data))
        self.stats.control_sent += 1

    def control_backlog(self) -> int:
        """Bytes queued on our publisher's control channel."""
        return int(self.publisher.control.bufferedAmount)

    async def close(self) -> None:
        """Close the subscription."""
        await close_peer_connection(self.pc, self.peer_id)
        await self.handle.detach()


async def check_room_locked(handle: JanusHandle, room: int | str) -> None:
    """JanusError (one line) when `room` exists without a PIN: someone without the call's secret made it first, and
    joining it would let anyone in."""
    listed = await handle.request({"request": "list"})
    entries = [e for e in listed.get("list", []) or [] if isinstance(e, dict) and str(e.get("room")) == str(room)]
    if not entries or not entries[0].get("pin_required"):  # a private room does not list: not made by codecav
        raise JanusError(f"SFU room {room} exists without a PIN (someone without the call's secret made it); "
                         "use another room name")


class SfuCallSession(CallBase[FeedLink]):
    """A participant of a Janus VideoRoom with the CallSession API (start/stop/send/remote_frames/stats ...)."""

    def __init__(self, config: CallConfig, own_avatar: OwnAvatar, *, voice_track: MediaStreamTrack | None = None,
                 receive_voice: bool = False, clock: Clock = MONOTONIC,
                 on_frame: FrameListener | None = None, subscribe_to: Collection[str] | None = None) -> None:
        """As CallSession; `subscribe_to` limits the peers this one receives (None: everyone), e.g. for
        send-mostly participants in load tests."""
        super().__init__(config, own_avatar, clock)
        self._subscribe_to = None if subscribe_to is None else frozenset(subscribe_to)
        self._voice = MediaRelay().subscribe(voice_track) if voice_track is not None else None
        self._receive_voice = receive_voice
        self._on_frame = on_frame
        self._janus: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._publisher: Publisher | None = None
        self._events: asyncio.Task[None] | None = None
        self._subscribing: set[asyncio.Task[None]] = set()
        self._feeds: dict[str, str] = {}  # peer id -> feed id
        self.subscribe_failures = 0
        """Subscriptions to a participant's feed that failed (one WARNING line each; tried again with backoff while
        the feed is in the room)."""
        self._resubscribe_backoff: dict[str, tuple[float, float]] = {}  # feed key -> next_relink_wait state
        self._avatar_broadcast: AvatarBroadcast | None = None
        self._avatar_publisher: AvatarPublisher | None = None
        self._avatar_feeds: dict[str, str] = {}  # peer id -> its avatar feed id
        self._avatar_subscriptions: dict[str, AvatarSubscription] = {}
        self._avatar_keeper: asyncio.Task[None] | None = None
        self.publisher_id: str | None = None
        """Our feed id in the room."""
        self._leaving = False

    async def start(self) -> None:
        """Create the room if needed, join as publisher, publish, subscribe to everyone already there."""
        cfg = self.config
        quiet_aiortc_teardown(asyncio.get_running_loop())
        janus = JanusSession(cfg.signal_url)
        await janus.create()
        self._janus = janus
        handle = await janus.attach()
        self._handle = handle
        exists = await handle.request({"request": "exists", "room": cfg.room})
        if not exists.get("exists"):
            locked = {"pin": cfg.sfu_pin, "secret": cfg.sfu_pin} if cfg.sfu_pin else {}
            with contextlib.suppress(JanusError):  # another participant may have created it meanwhile
                await handle.request({"request": "create", "room": cfg.room, "publishers": MAX_SFU_PUBLISHERS,
                                      "permanent": False, "audiocodec": "opus", **locked})
        if cfg.sfu_pin:
            await check_room_locked(handle, cfg.room)
        joined, _ = await handle.message(with_pin({"request": "join", "ptype": "publisher", "room": cfg.room,
                                                   "display": cfg.peer_id}, cfg.sfu_pin))
        self.publisher_id = str(joined.get("id"))
        publisher = Publisher(cfg, self._voice)
        self._publisher = publisher
        self._avatar_broadcast = AvatarBroadcast(self.own, self._send_avatar, self._avatar_backlog)
        await publisher.pc.setLocalDescription(await publisher.pc.createOffer())
        _, jsep = await handle.message({"request": "publish", "audio": self._voice is not None, "data": True},
                                       {"type": "offer", "sdp": publisher.pc.localDescription.sdp})
        if jsep is None:
            raise JanusError("Janus answered publish without an SDP answer")
        await publisher.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        for feed in joined.get("publishers", []):
            self._subscribe_later(str(feed["id"]), str(feed.get("display", "")))
        self._events = asyncio.create_task(self._event_loop(handle), name=f"sfu-events-{cfg.peer_id}")
        self._avatar_keeper = asyncio.create_task(self._keep_avatar_feeds(), name=f"sfu-avatars-{cfg.peer_id}")

    async def stop(self) -> None:
        """Leave: close subscriptions, the publisher and the Janus session; await every task."""
        self._leaving = True  # no subscription starts from here on
        await cancel_and_wait(self._avatar_keeper)
        self._avatar_keeper = None
        for task in list(self._subscribing):
            await cancel_and_wait(task, NetError)
        for peer_id in list(self._remotes):
            await self._remove_remote(peer_id, "leaving")
        await cancel_and_wait(self._events)
        self._events = None
        for owner in list(self._avatar_subscriptions):
            await self._avatar_subscriptions.pop(owner).close()
        if self._avatar_broadcast is not None:
            await self._avatar_broadcast.close()
        if self._avatar_publisher is not None:
            await self._avatar_publisher.close()
            self._avatar_publisher = None
        if self._publisher is not None:
            await close_peer_connection(self._publisher.pc, "janus")
            self._publisher = None
        if self._janus is not None:
            await self._janus.destroy()
            self._janus = None

    async def _event_loop(self, handle: JanusHandle) -> None:
        while True:
            event = await handle.events.get()
            data = event.get("plugindata", {}).get("data", {})
            for feed in data.get("publishers", []) or []:
                self._subscribe_later(str(feed["id"]), str(feed.get("display", "")))
            gone = data.get("unpublished") or data.get("leaving")
            if gone and gone != "ok":
                for owner, feed in list(self._avatar_feeds.items()):
                    if feed == str(gone):
                        del self._avatar_feeds[owner]
                for peer_id, feed in list(self._feeds.items()):
                    if feed == str(gone):
                        del self._feeds[peer_id]  # a subscription waiting to be tried again is not
                        await self._remove_remote(peer_id, "left the room")

    def _subscribe_later(self, feed: str, display: str, wait_s: float = 0.0) -> None:
        """Subscribe to `display`'s live `feed` (after `wait_s`); a failed subscription is tried again with backoff
        for as long as the feed stays in the room (a participant publishes once, so waiting for its next publish
        event would leave it unseen for the whole call)."""
        owner = avatar_feed_owner(display)
        if owner is not None:  # subscribed to only while we want that avatar (_keep_avatar_feeds)
            if owner != self.config.peer_id:
                self._avatar_feeds[owner] = feed
            return
        if feed == self.publisher_id or not display or display in self._remotes or self._leaving:
            return
        if self._subscribe_to is not None and display not in self._subscribe_to:
            return
        self._feeds[display] = feed

        async def subscribe() -> None:
            await asyncio.sleep(wait_s)
            if self._feeds.get(display) != feed or display in self._remotes or self._leaving:
                return  # it left meanwhile, another subscription got there first, or we are leaving
            try:
                await self._subscribe(feed, display)
            except (JanusError, NetError, OSError, ValueError, InvalidStateError, InvalidAccessError) as exc:
                self.subscribe_failures += 1
                retry_s = self._next_subscribe_wait(display)
                log.warning("subscription to %s failed (%s); trying again in %.1f s", display,
                            " ".join(str(exc).split()) or type(exc).__name__, retry_s)
                self._subscribe_later(feed, display, retry_s)

        task = asyncio.create_task(subscribe(), name=f"sfu-subscribe-{display}")
        self._subscribing.add(task)
        task.add_done_callback(self._subscribing.discard)

    def _next_subscribe_wait(self, key: str) -> float:
        """Seconds before subscribing to the feed `key` again (a participant's display name for its live feed,
        AVATAR_BACKOFF_KEY + owner for an avatar feed), doubling while failures follow each other."""
        wait_s, self._resubscribe_backoff[key] = next_relink_wait(self._resubscribe_backoff.get(key),
                                                                  self.clock.now_us() / 1e6)
        return wait_s

    def _after_drop(self, peer_id: str) -> None:
        """A participant dropped (its subscription never opened, it went silent, its avatar never came) while its
        feed is still in the room is subscribed to again, with backoff."""
        feed = self._feeds.get(peer_id)
        if feed is not None and not self._leaving:
            wait_s = self._next_subscribe_wait(peer_id)
            log.warning("subscribing to %s again in %.1f s (dropped while its feed is still in the room)", peer_id,
                        wait_s)
            self._subscribe_later(feed, peer_id, wait_s)

    async def _subscribe(self, feed: str, display: str) -> None:
        assert self._janus is not None and self._publisher is not None
        handle = await self._janus.attach()
        pc: RTCPeerConnection | None = None
        try:
            jsep = await join_as_subscriber(handle, self.config.room, feed, display, self.config.sfu_pin)
            pc = RTCPeerConnection(_rtc_config(self.config))
            await self._answer_feed(display, handle, jsep, pc)
        except BaseException:  # nothing half-made stays behind: the connection closed, the handle detached
            if pc is not None:
                await close_peer_connection(pc, display)
            with contextlib.suppress(JanusError, NetError, OSError):
                await handle.detach()
            raise

    async def _answer_feed(self, display: str, handle: JanusHandle, jsep: dict[str, Any],
                           pc: RTCPeerConnection) -> None:
        """Answer Janus's offer for `display`'s feed on `pc` and start its RemotePeer."""
        assert self._publisher is not None
        link = FeedLink(display, self._publisher, pc, handle)
        watch_connection(pc, link.times, self.clock)
        voice = new_remote_voice(self.config) if self._receive_voice else None
        holder: list[RemotePeer[FeedLink]] = []
        me = self.config.peer_id

        def on_message(data: bytes | str) -> None:
            if holder:
                # Anything from this feed (also messages to others, queued ahead of ours on its ordered
                # channel) shows the publisher is alive.
                holder[0].note_heard()
            opened = open_envelope(data, me)
            if opened is None or not holder:
                return
            kind, payload = opened
            try:
                if kind == "latent":
                    link.stats.latent_received += 1
                    link.stats.latent_received_bytes += len(payload)
                    holder[0].on_latent(payload)
                else:
                    link.stats.control_received += 1
                    holder[0].on_control(payload)
            except Exception as exc:  # never raise into aiortc; counted like PeerLink does
                link.stats.errors.append(f"{type(exc).__name__}: {exc}")

        def add_channel(channel: RTCDataChannel) -> None:
            link.channels.append(channel)
            channel.on("message", on_message)

        pc.on("datachannel", add_channel)

        def on_track(track: MediaStreamTrack) -> None:
            if track.kind != "audio" or voice is None:
                return
            decoded = isinstance(voice, DecodedVoice)
            link.audio_tap = tap_audio_track(pc, track, voice_packet_handler(voice, lambda: link.audio_tap),
                                             link.stats.errors, clock=self.clock, stop_decoding=not decoded)
            if isinstance(voice, DecodedVoice):
                task = asyncio.ensure_future(consume_voice(track, voice.playout, self.clock))
                self._subscribing.add(task)
                task.add_done_callback(self._subscribing.discard)

        pc.on("track", on_track)
        await pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        add_channel(pc.createDataChannel("codecav"))  # Janus forwards only once the subscriber has a channel
        await pc.setLocalDescription(await pc.createAnswer())
        await handle.message({"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp})
        remote = RemotePeer(display, link, self.config, self.own, self._cache, self._exchange, self.clock,
                            self._timings, self._on_frame, voice, avatar_server=self._avatar_broadcast)
        remote.signaling_us = self.clock.now_us()
        holder.append(remote)
        self._remotes[display] = remote
        self._runners[display] = asyncio.create_task(self._run_remote(remote), name=f"sfu-peer-{display}")

    @property
    def avatar_feeds_open(self) -> tuple[str, ...]:
        """Participants whose avatar feed we are subscribed to (only while fetching their avatar)."""
        return tuple(self._avatar_subscriptions)

    def _send_avatar(self, data: bytes) -> bool:
        """One message of an avatar round, on our avatar feed (published on the first round); False while it is
        not open."""
        if self._avatar_publisher is None:
            if self._janus is None:
                return False
            publisher = AvatarPublisher(_rtc_config(self.config))
            self._avatar_publisher = publisher

            async def forget() -> None:  # the next message publishes it afresh
                if self._avatar_publisher is publisher:
                    self._avatar_publisher = None
                await publisher.close()

            self._background(publisher.start(self._janus, self.config.room, self.config.peer_id + AVATAR_FEED_SUFFIX,
                                             self.config.sfu_pin),
                             "publishing our avatar feed", on_failure=forget)
            return False
        return self._avatar_publisher.send(control_envelope(EVERYONE, data))

    def _avatar_backlog(self) -> int:
        return 0 if self._avatar_publisher is None else self._avatar_publisher.backlog()

    async def _keep_avatar_feeds(self) -> None:
        """Subscribe to a participant's avatar feed while we want its avatar, and leave it once we do not."""
        while True:
            for owner, remote in list(self._remotes.items()):
                fetch = remote.fetch
                wants = fetch.wanted is not None and fetch.package is None and not fetch.failed
                subscription = self._avatar_subscriptions.get(owner)
                if wants and subscription is None and owner in self._avatar_feeds:
                    subscription = AvatarSubscription(owner, _rtc_config(self.config),
                                                      self._avatar_message_handler(owner))
                    self._avatar_subscriptions[owner] = subscription
                    assert self._janus is not None
                    self._background(subscription.start(self._janus, self.config.room, self._avatar_feeds[owner],
                                                        self.config.sfu_pin),
                                     f"subscribing to {owner}'s avatar feed",
                                     on_failure=self._forget_avatar_subscription(owner, subscription))
                elif not wants and subscription is not None:
                    await self._avatar_subscriptions.pop(owner).close()
            for owner in [o for o in self._avatar_subscriptions if o not in self._remotes]:
                await self._avatar_subscriptions.pop(owner).close()
            await asyncio.sleep(0.1)

    def _avatar_message_handler(self, owner: str) -> Callable[[bytes | str], None]:
        me = self.config.peer_id

        def on_message(data: bytes | str) -> None:
            opened = open_envelope(data, me)
            remote = self._remotes.get(owner)
            if opened is None or opened[0] != "control" or remote is None:
                return
            remote.link.stats.control_received += 1
            try:
                remote.on_control(opened[1])
            except Exception as exc:  # never raise into aiortc; counted like PeerLink does
                remote.link.stats.errors.append(f"{type(exc).__name__}: {exc}")

        return on_message

    def _forget_avatar_subscription(self, owner: str,
                                    subscription: AvatarSubscription) -> Callable[[], Coroutine[Any, Any, None]]:
        """What to do when `subscription` to `owner`'s avatar feed fails to start: close it and forget it, so
        _keep_avatar_feeds subscribes again, after a wait that doubles while failures follow each other
        (next_relink_wait), for as long as we still want the avatar."""
        async def forget() -> None:
            wait_s = self._next_subscribe_wait(AVATAR_BACKOFF_KEY + owner)
            log.warning("subscribing to %s's avatar feed again in %.1f s", owner, wait_s)
            await asyncio.sleep(wait_s)
            if self._avatar_subscriptions.get(owner) is subscription:
                del self._avatar_subscriptions[owner]
            await subscription.close()

        return forget

    def _background(self, work: Coroutine[Any, Any, None], what: str,
                    on_failure: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Run `work` as a task stop() awaits; a failure is logged in one line, then `on_failure` runs."""
        async def run() -> None:
            try:
                await work
            except (JanusError, NetError, OSError, ValueError, InvalidStateError, InvalidAccessError) as exc:
                log.warning("%s failed: %s", what, " ".join(str(exc).split()) or type(exc).__name__)
                if on_failure is not None:
                    with contextlib.suppress(JanusError, NetError, OSError):
                        await on_failure()

        task = asyncio.create_task(run(), name=what)
        self._subscribing.add(task)
        task.add_done_callback(self._subscribing.discard)

    def send(self, frame: LatentFrame) -> int:
        """Encode `frame` and publish it once (Janus fans it out); 1 if sent, 0 if dropped or not connected."""
        encoded = self._latent_sender.encode(frame)  # v2 only when every subscriber reads it
        data = encoded.for_all([remote.caps for remote in self._remotes.values()])
        self._frames_sent += 1
        if self._publisher is None or not self._publisher.send_latent(data):
            return 0
        for remote in self._remotes.values():
            remote.link.stats.latent_sent += 1
            remote.link.stats.latent_sent_bytes += len(data)
        return 1
