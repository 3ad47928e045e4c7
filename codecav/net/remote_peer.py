"""RemotePeer: everything a call keeps about one other participant - its link, control-message handling,
clock sync, avatar exchange, latent decoding and jitter buffer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from codecav.assets.trial import prestart_trial_child
from codecav.clock import Clock
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import AvatarCache, AvatarFetch, ExchangeStats, OwnAvatar
from codecav.net.call_types import CallConfig, FrameTiming, JoinTimeline, PeerCallStats, RemoteFrame
from codecav.net.clock_sync import ClockSyncEstimator
from codecav.net.errors import NetError
from codecav.net.impairment import impair
from codecav.net.jitter_buffer import JitterBuffer, PlayoutState
from codecav.net.peer import LinkTimes, PeerLink, PeerLinkStats
from codecav.net.receiver import ControlMessageReceiver, LatentFrameReceiver
from codecav.net.tasks import cancel_and_wait
from codecav.net.voice_receiver import FaceDelay, RemoteVoice
from codecav.net.wire.control import (
    AvatarChunk,
    AvatarDone,
    AvatarRefused,
    AvatarRequest,
    Bye,
    ControlMessage,
    Hello,
    Ping,
    Pong,
    encode_control_message,
)
from codecav.net.wire.frames_v2 import CAPABILITY_V2

log = logging.getLogger(__name__)

CAPABILITIES: tuple[str, ...] = ("int8", "fp16", "gaze", "voice-opus", CAPABILITY_V2)
"""What this codecav announces in Hello."""
CHECK_PERIOD_S = 0.5
"""How often a linked peer's liveness, answer and avatar transfer are checked (and pings sent when due)."""
AVATAR_SEND_BUFFER_BYTES = 256 * 1024
"""An avatar transfer waits while more than this is queued on the control channel (keeps pings timely)."""


class ControlLink(Protocol):
    """What a RemotePeer needs of its connection: a PeerLink (mesh) or an SFU feed (codecav.net.sfu.session)."""

    stats: PeerLinkStats
    times: LinkTimes

    @property
    def is_open(self) -> bool:
        """Whether messages can flow both ways."""

    async def wait_open(self) -> None:
        """Until is_open; NetError on failure."""

    def send_control(self, data: bytes) -> None:
        """Send one control message to this peer, reliably and in order."""

    def control_backlog(self) -> int:
        """Bytes queued for sending."""

    async def close(self) -> None:
        """Release the connection."""


L = TypeVar("L", bound=ControlLink)


class AvatarServer(Protocol):
    """Serves this participant's avatar to peers that ask (e.g. codecav.net.sfu.avatar_broadcast)."""

    def request(self, peer: str) -> None:
        """`peer` asked for our avatar (event loop)."""

FrameListener = Callable[[str, LatentFrame, float, int], None]
"""Called on the event loop for every accepted frame: (peer, frame, capture_local_us, receive_us)."""


class RemotePeer(Generic[L]):
    """One other participant; all methods run on the event loop except `sample` (any thread)."""

    def __init__(self, peer_id: str, link: L, config: CallConfig, own: OwnAvatar, cache: AvatarCache,
                 exchange_stats: ExchangeStats, clock: Clock, timings: deque[FrameTiming],
                 on_frame: FrameListener | None = None, voice: RemoteVoice | None = None,
                 avatar_server: AvatarServer | None = None) -> None:
        """One remote participant over `link`; `voice` plays its voice (None when the call receives none);
        `avatar_server` serves our avatar when this peer asks for it (default: a transfer to this peer alone)."""
        self.peer_id = peer_id
        self.link = link
        self.config = config
        self.own = own
        self.clock = clock
        """The call's clock: every send, receive and render time here is its microseconds (now_us)."""
        self.fetch = AvatarFetch(cache, exchange_stats, max_bytes=config.max_avatar_bytes, peer=peer_id)
        self.sync = ClockSyncEstimator()
        self.control = ControlMessageReceiver()
        self.latent: LatentFrameReceiver | None = None
        self.jitter: JitterBuffer | None = None
        self.hello: Hello | None = None
        self.extra_drops: dict[str, int] = {}
        self.bye = False
        self.our_avatar_refused = ""
        """The reason key this peer gave for refusing our avatar ('' unless it told us it did)."""
        self._told_refusal: tuple[str, str] | None = None
        self._timings = timings
        self._on_frame = on_frame
        self.voice = voice
        """Received voice of this peer, when the call receives voice."""
        self._avatar_server = avatar_server
        self._lock = threading.Lock()  # jitter buffer: pushed on the loop, sampled by the render thread
        self._tasks: set[asyncio.Task[None]] = set()
        self._ping_sequence = 0
        self._open = asyncio.Event()
        self._sending_avatar = False
        self.announced_us = clock.now_us()
        """When signaling named this peer to us: a RemotePeer is made then (JoinTimeline.announced_us)."""
        self.signaling_us: int | None = None
        """When the offer or answer for this peer went out (JoinTimeline.signaling_us)."""
        self._channels_open_us: int | None = None
        self._avatar_fetched_us: int | None = None
        self._avatar_verified_us: int | None = None
        self._avatar_cached = False
        self.last_heard_us: int | None = None
        """When anything last arrived from this peer on its channels (call clock)."""

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Wait for the link, say hello, then keep the clock synced until cancelled."""
        await self.link.wait_open()
        self._channels_open_us = self.clock.now_us()
        if self.config.impairment is not None and isinstance(self.link, PeerLink):  # mesh links (not via an SFU)
            impair(self.link, self.config.impairment)
        self._open.set()
        hello = Hello(self.config.peer_id, self.own.package.manifest.avatar_id, self.own.sha256, CAPABILITIES)
        pings = 0
        opened_us = self.clock.now_us()
        last_ping_us: int | None = None
        latent_seen = (self.link.stats.latent_sent_bytes, self.link.stats.latent_received)
        while True:
            self._check_answered(opened_us)
            self._check_alive()
            synced = self.sync.estimate() is not None
            # Through an SFU, messages sent before the other side subscribed to us are lost: repeat Hello before
            # every ping until a Pong shows our messages arrive (control is ordered, so the Hello did too).
            if not synced:
                self._send(hello)
            request = self.fetch.retry_request(self.clock.now_us())
            if request is not None:
                self._send(request)
            now_us = self.clock.now_us()
            interval_s, latent_seen = self._ping_interval_s(latent_seen)
            if (not synced or pings < 8 or last_ping_us is None
                    or now_us - last_ping_us >= interval_s * 1e6 - 1000):
                self._ping_sequence = (self._ping_sequence + 1) % 2**32
                self._send(Ping(self._ping_sequence, now_us))
                pings += 1
                last_ping_us = now_us
            period_s = 0.05 if pings < 8 else min(CHECK_PERIOD_S, self.config.ping_interval_s)
            slept_from = self.clock.now_us()
            await asyncio.sleep(period_s)
            if self.clock.now_us() - slept_from > 2 * period_s * 1e6 + 100_000:
                # This loop itself was held up: what the peer sent meanwhile may still wait in the socket, so
                # silence measured across the hold-up says nothing about the peer.
                if self.last_heard_us is not None:
                    self.last_heard_us = max(self.last_heard_us, self.clock.now_us() - int(period_s * 1e6))
                else:
                    opened_us += self.clock.now_us() - slept_from

    def _ping_interval_s(self, seen: tuple[int, int]) -> tuple[float, tuple[int, int]]:
        """How often to ping now, from whether latent frames went either way since the last check (`seen`: the
        link's sent bytes and received count then); and the counts to compare with next time. Our frames flowing
        tell the peer we are alive: every `ping_interval_s`. Only its frames flowing: often enough for its silence
        limit (`peer_silent_s` / 4). Nothing flowing (joining, or both quiet): on every check, which also keeps an
        SFU's ordered channel busy enough that a lost packet is resent quickly (at 1.25 s pings the full 8-person
        room of `examples/sfu_room.py` dropped peers as silent while joining)."""
        now = (self.link.stats.latent_sent_bytes, self.link.stats.latent_received)
        if now[0] != seen[0]:
            return self.config.ping_interval_s, now
        if now[1] != seen[1]:
            return min(self.config.ping_interval_s, self.config.peer_silent_s / 4), now
        return 0.0, now

    def note_heard(self) -> None:
        """Something from this peer arrived (what on_control and on_latent note themselves; links that see
        more of the peer's traffic, e.g. through an SFU, call it for the rest)."""
        self.last_heard_us = self.clock.now_us()

    def _check_answered(self, opened_us: int) -> None:
        """NetError when nothing at all came from the peer within the connect timeout of its link opening
        (through an SFU, a peer is heard only once it has subscribed to us, which can take a while)."""
        waited_s = (self.clock.now_us() - opened_us) / 1e6
        if self.last_heard_us is None and waited_s > self.config.peer.connect_timeout_s:
            raise NetError(f"peer {self.peer_id} never answered ({waited_s:.0f} s after the link opened); "
                           "dropped it")

    def _check_alive(self) -> None:
        """NetError (one line) when the peer went silent or never delivered its avatar (run(): it is dropped).
        Silence counts only once the peer is in the call (heard, its avatar ready): while a room is joining,
        queues of avatar transfers can hold its messages back for seconds, and the connect and avatar time-outs
        govern that phase."""
        now_us = self.clock.now_us()
        silent_s = (now_us - (self.last_heard_us or now_us)) / 1e6
        if silent_s > self.config.peer_silent_s and self.jitter is not None:
            raise NetError(f"peer {self.peer_id} went silent ({silent_s:.1f} s without a message); dropped it")
        stalled_s = self.fetch.stalled_s(now_us)
        if stalled_s > self.config.avatar_timeout_s:
            raise NetError(f"peer {self.peer_id} did not send its avatar ({stalled_s:.0f} s without a chunk after "
                           "asking); gave up on it")

    async def close(self, reason: str = "") -> None:
        """Say bye if the link is up, close it and await this peer's tasks."""
        if self.link.is_open and not self.bye:
            with contextlib.suppress(NetError):
                self._send(Bye(reason))
            await asyncio.sleep(0)
        for task in list(self._tasks):
            await cancel_and_wait(task)
        await self.link.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, msg: ControlMessage) -> None:
        self.link.send_control(encode_control_message(msg))

    def _drop(self, reason: str) -> None:
        self.extra_drops[reason] = self.extra_drops.get(reason, 0) + 1

    # -- control channel ------------------------------------------------------------------------------------------

    def on_control(self, data: bytes | str) -> None:
        """Handle one control-channel message (invalid ones are counted by the receiver)."""
        t_us = self.clock.now_us()
        self.last_heard_us = t_us
        msg = self.control.receive(data)
        if msg is None:
            return
        if isinstance(msg, Ping):
            self._send(Pong(msg.sequence, msg.t0_us, t_us, self.clock.now_us()))
        elif isinstance(msg, Pong):
            self.sync.add_pong(msg, t_us)
        elif isinstance(msg, Hello):
            self._on_hello(msg)
        elif isinstance(msg, AvatarRequest):
            if msg.avatar_sha256 != self.own.sha256:
                self._drop("avatar_request_unknown")
            elif self._avatar_server is not None:
                self._avatar_server.request(self.peer_id)
            else:
                self._spawn(self._send_avatar())
        elif isinstance(msg, AvatarChunk):
            self.fetch.on_chunk(msg, t_us)
        elif isinstance(msg, AvatarDone):
            self._avatar_fetched_us = t_us
            self._spawn(self._finish_avatar(msg))
        elif isinstance(msg, Bye):
            self.bye = True
            log.info("peer %s said bye (%s)", self.peer_id, msg.reason)
        elif isinstance(msg, AvatarRefused):
            if msg.avatar_sha256 != self.own.sha256:
                self._drop("avatar_refused_unknown")
            elif msg.reason != self.our_avatar_refused:
                self.our_avatar_refused = msg.reason
                log.warning("peer %s refused our avatar (%s): it cannot see us", self.peer_id, msg.reason)
        self._tell_refusal()

    def _tell_refusal(self) -> None:
        """Tell the peer once that we refused its avatar package, with the reason key (AvatarRefused)."""
        refusal = self.fetch.refusal
        if refusal is not None and refusal != self._told_refusal and self.link.is_open:
            self._told_refusal = refusal
            self._send(AvatarRefused(*refusal))

    def _on_hello(self, hello: Hello) -> None:
        if hello.peer_id != self.peer_id:
            self._drop("hello_wrong_peer")
            return
        if self.hello is not None and self.hello.avatar_sha256 == hello.avatar_sha256:
            return  # a repeated Hello (see run)
        self.hello = hello
        self._spawn(self._look_up_avatar(hello))

    # Loading and checking a package takes long enough to hold up the event loop (and with it the pings that
    # keep this participant alive to the others): both run in a worker thread.

    async def _look_up_avatar(self, hello: Hello) -> None:
        request = await asyncio.to_thread(self.fetch.on_hello, hello, self.clock.now_us())
        if request is None:
            self._avatar_fetched_us, self._avatar_cached = self.clock.now_us(), True
            self._avatar_ready()
        else:
            self._send(request)
            # Its trial run's child starts now and loads onnxruntime while the bytes come (verify takes it).
            await asyncio.to_thread(prestart_trial_child)

    async def _finish_avatar(self, done: AvatarDone) -> None:
        data = self.fetch.take(done)
        if data is not None and await asyncio.to_thread(self.fetch.verify, done.avatar_sha256, data) is not None:
            self._avatar_ready()
        self._tell_refusal()

    def _avatar_ready(self) -> None:
        package = self.fetch.package
        assert package is not None
        layout = package.manifest.latent
        with self._lock:
            self.latent = LatentFrameReceiver(layout, package.quant_table)
            self.jitter = JitterBuffer(layout.dim, self.config.jitter)
        self._avatar_verified_us = self.clock.now_us()

    async def _send_avatar(self) -> None:
        if self._sending_avatar:
            return  # a retried request while the transfer runs
        self._sending_avatar = True
        try:
            for msg in self.own.chunks():
                while self.link.control_backlog() > AVATAR_SEND_BUFFER_BYTES and self.link.is_open:
                    await asyncio.sleep(0.005)
                if not self.link.is_open:
                    return
                self._send(msg)
        finally:
            self._sending_avatar = False

    # -- latent channel -------------------------------------------------------------------------------------------

    def on_latent(self, data: bytes | str) -> None:
        """Decode one latent message and push it into the jitter buffer (drops counted by reason)."""
        receive_us = self.clock.now_us()
        self.last_heard_us = receive_us
        if self.latent is None or self.jitter is None:
            self._drop("no_avatar")
            return
        estimate = self.sync.estimate()
        if estimate is None:
            self._drop("no_clock")
            return
        frame = self.latent.receive(data)
        if frame is None:
            return
        capture_local = estimate.remote_to_local_us(frame.capture_time_us)
        with self._lock:
            accepted = self.jitter.push(frame, capture_local, receive_us)
        if accepted and self._on_frame is not None:
            self._on_frame(self.peer_id, frame, capture_local, receive_us)
        self._timings.append(FrameTiming(self.peer_id, frame.sequence, capture_local, receive_us, self.clock.now_us(),
                                         len(data), estimate.error_bound_us))

    @property
    def caps(self) -> tuple[str, ...] | None:
        """What this peer announced in its Hello (None before it arrived): picks the wire version sent to it."""
        return self.hello.capabilities if self.hello is not None else None

    def _face_delay(self) -> FaceDelay | None:
        """The face jitter buffer's delay and fastest transit, once frames came (any thread)."""
        with self._lock:
            jitter = self.jitter
            if jitter is None or jitter.min_transit_us is None:
                return None
            return FaceDelay(jitter.playout_delay_us, jitter.min_transit_us)

    def sample(self, render_us: int, photon_lead_us: int = 0) -> RemoteFrame | None:
        """The avatar state to show at `render_us`, or None before the avatar is verified (any thread).
        With voice, the face's delay is held within the lip-sync window of the voice's (codecav.net.lip_sync):
        the face reaches the eye `photon_lead_us` after `render_us` (the renderer's decode, draw and present),
        so its capture-to-eye delay is the playout delay plus that lead, and the lead is what it is compared by."""
        voice = self.voice
        face = self._face_delay() if voice is not None else None
        floor = max(0.0, voice.face_floor_us(render_us + photon_lead_us, face) - photon_lead_us) \
            if voice is not None and face is not None else 0.0
        with self._lock:
            jitter = self.jitter
            package = self.fetch.package
            if jitter is None or package is None:
                return None
            jitter.floor_us = floor
            sample = jitter.sample(float(render_us))
        if voice is not None and sample.state is not PlayoutState.EMPTY:
            voice.sync.face_shown(render_us + photon_lead_us, sample.playout_delay_us + photon_lead_us)
        return RemoteFrame(self.peer_id, self.hello.avatar_sha256 if self.hello else "", package, sample)

    def voice_chunk(self, play_ns: int) -> np.ndarray | None:
        """The 10 ms of this peer's voice heard from `play_ns` (call clock), in sync with its face; None without
        voice (voice output thread; CallBase.voice_samples mixes these)."""
        voice = self.voice
        return None if voice is None else voice.chunk(play_ns, self._face_delay())

    def join_timeline(self) -> JoinTimeline:
        """When each step of joining this peer happened so far."""
        times = self.link.times
        return JoinTimeline(announced_us=self.announced_us, signaling_us=self.signaling_us,
                            ice_connected_us=times.ice_connected_us,
                            dtls_connected_us=times.dtls_connected_us, channels_open_us=self._channels_open_us,
                            avatar_fetched_us=self._avatar_fetched_us, avatar_verified_us=self._avatar_verified_us,
                            avatar_cached=self._avatar_cached)

    # -- stats ----------------------------------------------------------------------------------------------------

    def snapshot(self) -> PeerCallStats:
        """Counters of this participant."""
        estimate = self.sync.estimate()
        link = self.link.stats
        drops: dict[str, int] = dict(self.extra_drops)
        for source in (self.control.stats.dropped, self.latent.stats.dropped if self.latent else {}):
            for reason, count in source.items():
                drops[reason] = drops.get(reason, 0) + count
        jitter = self.jitter
        if self.fetch.package is not None:
            avatar = "ready"
        elif self.fetch.failed:
            avatar = "refused"
        else:
            avatar = "fetching" if self.hello is not None else "unknown"
        return PeerCallStats(
            peer=self.peer_id,
            connected=self.link.is_open,
            avatar=avatar,
            clock_offset_us=estimate.offset_us if estimate else None,
            clock_error_bound_us=estimate.error_bound_us if estimate else None,
            rtt_us=estimate.delay_us if estimate else None,
            latent_sent=link.latent_sent,
            latent_sent_bytes=link.latent_sent_bytes,
            latent_dropped_congested=link.latent_dropped_congested,
            latent_received=link.latent_received,
            latent_received_bytes=link.latent_received_bytes,
            frames_accepted=jitter.stats.received if jitter else 0,
            frames_lost=jitter.stats.lost if jitter else 0,
            frames_late=jitter.stats.late if jitter else 0,
            wire_dropped=drops,
            playout_delay_ms=jitter.playout_delay_us / 1000.0 if jitter else 0.0,
            longest_freeze_ms=jitter.stats.longest_freeze_us / 1000.0 if jitter else 0.0,
            datagrams_sent=link.datagrams_sent,
            datagram_bytes_sent=link.datagram_bytes_sent,
            audio_frames_received=self.voice.frames if self.voice is not None else link.audio_frames_received,
            join=self.join_timeline(),
            voice=self.voice.stats() if self.voice is not None else None,
            av_offset_ms=self.voice.sync.offsets() if self.voice is not None else (),
            our_avatar_refused=self.our_avatar_refused,
        )
