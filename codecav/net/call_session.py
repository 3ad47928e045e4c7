"""CallSession: join a room through the signaling server and hold a full mesh of PeerLinks (up to 6 people).

The library API the runtime drives: `await start()`, `send(frame)` for each captured LatentFrame,
`remote_frames(render_us)` at each render time, `stats()`, `frame_timings()`, `await stop()`.
Negotiation: the newcomer offers to every peer already in the room; the others answer (no glare).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay

from codecav.clock import MONOTONIC, Clock
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_base import CallBase, new_remote_voice, voice_packet_handler
from codecav.net.call_types import CallConfig
from codecav.net.errors import NetError, SignalingError
from codecav.net.peer import PeerLink, quiet_aiortc_teardown
from codecav.net.remote_peer import FrameListener, RemotePeer
from codecav.net.signaling.client import SignalingClient
from codecav.net.signaling.messages import Answer, Candidate, ErrorReply, Offer, PeerDropped, PeerJoined, PeerLeft
from codecav.net.tasks import cancel_and_wait
from codecav.net.voice_baseline import DecodedVoice, consume_voice

log = logging.getLogger(__name__)

RELINK_FIRST_WAIT_S = 0.5
"""A dropped peer still in the room is offered a new link this long after the drop (doubling on each drop)..."""
RELINK_MAX_WAIT_S = 30.0
"""... up to this."""
RELINK_DEFER_S = 2.0
"""The peer with the larger id waits this much longer, so that when both dropped each other only one offers."""
RELINK_RESET_S = 60.0
"""A peer dropped again this long after its previous drop starts the backoff afresh (it was linked meanwhile)."""


def next_relink_wait(previous: tuple[float, float] | None, now_s: float) -> tuple[float, tuple[float, float]]:
    """The wait before offering a dropped peer a new link, and the state to keep for its next drop: `previous`
    is (the wait its next drop would get, when it was last dropped) or None before its first drop. The wait
    doubles from RELINK_FIRST_WAIT_S up to RELINK_MAX_WAIT_S while drops follow each other, and starts again from
    the first wait once a drop comes over RELINK_RESET_S after the one before."""
    wait_s = RELINK_FIRST_WAIT_S
    if previous is not None and now_s - previous[1] <= RELINK_RESET_S:
        wait_s = previous[0]
    return wait_s, (min(RELINK_MAX_WAIT_S, wait_s * 2), now_s)


def monotonic_us() -> int:
    """MONOTONIC.now_us(): the real clock in microseconds (the default clock of LatentFrame.capture_time_us),
    for scripts that stamp frames for a call on the default clock."""
    return MONOTONIC.now_us()


class CallSession(CallBase[PeerLink]):
    """One participant of a call: signaling, a PeerLink per remote peer, avatar exchange, clock sync, playout."""

    def __init__(
        self,
        config: CallConfig,
        own_avatar: OwnAvatar,
        *,
        voice_track: MediaStreamTrack | None = None,
        receive_voice: bool = False,
        clock: Clock = MONOTONIC,
        on_frame: FrameListener | None = None,
    ) -> None:
        """Voice: `voice_track` (a VoiceTrack) goes to every peer through a MediaRelay; with `receive_voice` each
        peer's voice is played, in sync with its face, by `voice_samples` (config.voice_path says how).
        `on_frame` sees every accepted remote frame on the event loop (e.g. to hand it to a decode thread).
        `clock` stamps receive and render times (capture times of sent frames should come from the same clock);
        FakeClock in tests."""
        super().__init__(config, own_avatar, clock)
        self._voice_track = voice_track
        self._relay = MediaRelay() if voice_track is not None else None
        self._receive_voice = receive_voice
        self._on_frame = on_frame
        self._signaling: SignalingClient | None = None
        self._signal_task: asyncio.Task[None] | None = None
        self.signaling_error: str = ""
        """Why the signaling connection last ended, if it did (links already up keep running without it)."""
        self.signaling_reconnects = 0
        """Times the connection to the signaling server was lost and made again."""
        self.signaling_connected = False
        """Whether this peer is in its room on the signaling server now."""
        self._room: set[str] = set()
        """Who else the signaling server says is in the room."""
        self._relinks: dict[str, asyncio.Task[None]] = {}
        self._relink_backoff: dict[str, tuple[float, float]] = {}
        """Per peer: the state next_relink_wait keeps between its drops."""
        self.relinks = 0
        """Links made again to a peer dropped while still in the room (e.g. after a stall of over peer_silent_s)."""

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the room and offer to everyone already there; SignalingError if the join is refused."""
        if self._signaling is not None:
            raise NetError("call session already started; stop() it first")
        cfg = self.config
        quiet_aiortc_teardown(asyncio.get_running_loop())
        client = SignalingClient(cfg.signal_url, cfg.room, cfg.peer_id, cfg.token)
        joined = await client.connect()
        self._signaling = client
        if len(joined.peers) + 1 > cfg.max_peers:
            await client.close()
            self._signaling = None
            raise NetError(f"room {cfg.room!r} already has {len(joined.peers)} peers; a full mesh holds at most "
                           f"{cfg.max_peers} participants - use an SFU room for more")
        self._room = set(joined.peers)
        await self._offer_to(client, joined.peers)
        self.signaling_connected = True
        self._signal_task = asyncio.create_task(self._signal_loop(client), name=f"call-signaling-{cfg.peer_id}")

    async def stop(self) -> None:
        """Say bye, leave the room, close every link and await every task."""
        for task in list(self._relinks.values()):
            await cancel_and_wait(task)
        self._relinks.clear()
        for peer_id in list(self._remotes):
            await self._remove_remote(peer_id, "leaving")
        await cancel_and_wait(self._signal_task)
        self._signal_task = None
        self.signaling_connected = False
        if self._signaling is not None:
            await self._signaling.leave()
            self._signaling = None

    async def _offer_to(self, client: SignalingClient, peers: Iterable[str]) -> None:
        """Offer to each of `peers` not linked yet (the newcomer offers: no glare)."""
        for other in peers:
            if other in self._remotes:
                continue  # linked before the server restarted: the link does not need it
            remote = self._add_remote(other)
            await client.send(Offer(other, await remote.link.create_offer()))
            remote.signaling_us = self.clock.now_us()

    # -- signaling ------------------------------------------------------------------------------------------------

    def _add_remote(self, peer_id: str) -> RemotePeer[PeerLink]:
        holder: list[RemotePeer[PeerLink]] = []
        voice = new_remote_voice(self.config) if self._receive_voice else None
        links: list[PeerLink] = []
        sent_voice = self._relay.subscribe(self._voice_track) \
            if self._relay is not None and self._voice_track is not None else None  # one source read for all links

        async def consume(track: MediaStreamTrack) -> None:
            if isinstance(voice, DecodedVoice):
                await consume_voice(track, voice.playout, self.clock)

        link = PeerLink(
            peer_id,
            self.config.peer,
            on_latent=lambda data: holder[0].on_latent(data),
            on_control=lambda data: holder[0].on_control(data),
            audio_track=sent_voice,
            on_audio_track=consume if isinstance(voice, DecodedVoice) else None,
            receive_audio=voice is not None,
            on_audio_packet=voice_packet_handler(voice, lambda: links[0].audio_tap) if voice is not None else None,
            decode_audio=isinstance(voice, DecodedVoice),
            clock=self.clock,
        )
        links.append(link)
        remote = RemotePeer(peer_id, link, self.config, self.own, self._cache, self._exchange, self.clock,
                            self._timings, self._on_frame, voice)
        holder.append(remote)
        self._remotes[peer_id] = remote
        self._runners[peer_id] = asyncio.create_task(self._run_remote(remote), name=f"call-peer-{peer_id}")
        return remote

    async def _signal_loop(self, client: SignalingClient) -> None:
        """Relay signaling; when the server goes away, keep the links and rejoin it by itself."""
        while True:
            try:
                await self._signal_messages(client)
            except SignalingError as exc:
                self.signaling_error = str(exc)  # links already up keep running without the server
            self.signaling_connected = False
            log.warning("lost the signaling server (%s); the call goes on, rejoining it", self.signaling_error)
            client = await self._rejoin_signaling()
            self.signaling_reconnects += 1
            log.warning("rejoined the signaling server at %s", self.config.signal_url)

    async def _rejoin_signaling(self) -> SignalingClient:
        """Connect and join again, retrying with backoff (0.1 s doubling to 1 s) until it works or stop()."""
        cfg = self.config
        wait_s = 0.1
        while True:
            client = SignalingClient(cfg.signal_url, cfg.room, cfg.peer_id, cfg.token,
                                     connect_timeout_s=2.0)
            try:
                joined = await client.connect()
            except SignalingError as exc:
                self.signaling_error = str(exc)
                await asyncio.sleep(wait_s)
                wait_s = min(1.0, wait_s * 2)
                continue
            old, self._signaling = self._signaling, client
            if old is not None:
                await old.close()
            self._room = set(joined.peers)
            await self._offer_to(client, joined.peers)
            self.signaling_connected = True
            return client

    async def _signal_messages(self, client: SignalingClient) -> None:
        while True:
            msg = await client.receive()
            try:
                await self._on_signal(client, msg)
            except SignalingError:
                raise
            except Exception as exc:  # e.g. aiortc refusing an offer that raced this peer's own leaving
                peer = getattr(msg, "peer", "?")
                log.warning("could not apply %s from %s (%s: %s); dropped that peer", type(msg).__name__, peer,
                            type(exc).__name__, exc)
                if peer in self._remotes:
                    await self._remove_remote(peer, f"signaling failed: {type(exc).__name__}")

    async def _on_signal(self, client: SignalingClient, msg: object) -> None:
        if isinstance(msg, Offer):
            if msg.peer in self._remotes:
                # An offer from a linked peer: it restarted (crashed and rejoined) before its old link
                # was found dead; the old link goes, the new one takes its place.
                await self._remove_remote(msg.peer, "restarted")
            if len(self._remotes) + 2 > self.config.max_peers:
                log.warning("ignoring offer from %s (the mesh is full)", msg.peer)
                return
            remote = self._add_remote(msg.peer)
            await client.send(Answer(msg.peer, await remote.link.accept_offer(msg.sdp)))
            remote.signaling_us = self.clock.now_us()
        elif isinstance(msg, Answer) and msg.peer in self._remotes:
            await self._remotes[msg.peer].link.accept_answer(msg.sdp)
        elif isinstance(msg, Candidate) and msg.peer in self._remotes:
            await self._remotes[msg.peer].link.add_candidate(msg.candidate, msg.sdp_mid, msg.sdp_mline_index)
        elif isinstance(msg, PeerJoined):
            self._room.add(msg.peer)
        elif isinstance(msg, PeerLeft | PeerDropped):
            self._room.discard(msg.peer)
            await self._remove_remote(msg.peer, "peer left")
        elif isinstance(msg, ErrorReply):
            log.warning("signaling server: %s (%s)", msg.message, msg.code)

    def _after_drop(self, peer_id: str) -> None:
        """A peer dropped while the server still has it in the room (it stalled, or its network went for a while)
        is offered a link again: at once by the peer with the smaller id, after RELINK_DEFER_S by the other (whose
        offer is then needed only if the first did not drop it), then with backoff up to RELINK_MAX_WAIT_S
        (next_relink_wait)."""
        if peer_id not in self._room or peer_id in self._relinks:
            return
        wait_s, self._relink_backoff[peer_id] = next_relink_wait(self._relink_backoff.get(peer_id),
                                                                 self.clock.now_us() / 1e6)
        if self.config.peer_id > peer_id:
            wait_s += RELINK_DEFER_S
        task = asyncio.create_task(self._relink(peer_id, wait_s), name=f"call-relink-{peer_id}")
        self._relinks[peer_id] = task
        task.add_done_callback(lambda _t: self._relinks.pop(peer_id, None))

    async def _relink(self, peer_id: str, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        client = self._signaling
        if client is None or not self.signaling_connected or peer_id not in self._room or peer_id in self._remotes:
            return  # gone, or it offered first and is linked again
        log.warning("offering %s a new link (dropped while still in the room)", peer_id)
        self.relinks += 1
        try:
            await self._offer_to(client, [peer_id])
        except SignalingError as exc:
            log.warning("could not offer %s a new link (%s)", peer_id, exc)

    # -- media ----------------------------------------------------------------------------------------------------

    def send(self, frame: LatentFrame) -> int:
        """Encode `frame` once per wire version and send each connected peer the version it reads (v2 to peers
        announcing it, v1 to the others; loop thread); how many it went to."""
        encoded = self._latent_sender.encode(frame)  # WireEncodeError if invalid; v1, and v2 with a quant table
        self._frames_sent += 1
        return sum(1 for remote in self._remotes.values() if remote.link.send_latent(encoded.for_caps(remote.caps)))

