"""PeerLink: one aiortc RTCPeerConnection to one remote peer, with the call's channels.

Channels (negotiated with fixed SCTP stream ids, so both sides have them without the DCEP handshake):
`latent` (id 0, unordered, maxRetransmits=0) and `control` (id 1, reliable, ordered), plus an optional
voice track (Opus). See docs/calls.md for why the latent channel drops stale frames at the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH
from aiortc.sdp import candidate_from_sdp

from codecav.clock import MONOTONIC, Clock
from codecav.net.errors import NetError
from codecav.net.rtp_tap import ReceiverTap, VoicePacketHandler, negotiate_opus_voice, tap_audio_track
from codecav.net.tasks import cancel_and_wait, finish_apart

log = logging.getLogger(__name__)

LATENT_CHANNEL_ID = 0
"""SCTP stream id of the negotiated latent channel."""
CONTROL_CHANNEL_ID = 1
"""SCTP stream id of the negotiated control channel."""

SINGLE_CHUNK_BYTES = int(USERDATA_MAX_LENGTH)
"""Largest message aiortc sends in one SCTP DATA chunk (1,160 bytes in aiortc 1.16); latent frames should fit."""

_host_addresses: list[str] = []


def use_host_addresses(addresses: tuple[str, ...]) -> None:
    """Make aioice offer exactly these IPv4 host candidates (process-wide), e.g. ('127.0.0.1',) for tests.

    aioice skips 127.0.0.1 when listing host addresses, so two peers on a machine without another interface
    cannot connect; with this patch they meet on loopback and nothing leaves the machine."""
    import aioice.ice

    _host_addresses[:] = list(addresses)

    def chosen(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return list(_host_addresses) if use_ipv4 else []

    aioice.ice.get_host_addresses = chosen


def use_loopback_ice() -> None:
    """use_host_addresses(('127.0.0.1',))."""
    use_host_addresses(("127.0.0.1",))


def quiet_aiortc_teardown(loop: asyncio.AbstractEventLoop) -> None:
    """aiortc sends a data channel's queue from fire-and-forget tasks (RTCSctpTransport._data_channel_flush): a
    message sent just as the DTLS transport goes (a peer dropped, relinked or gone) fails there with ConnectionError
    that nobody retrieves, and asyncio prints its traceback on the terminal. On `loop`, those become one debug line;
    everything else still goes to the previous handler (once per loop)."""
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_aiortc_teardown", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        task = context.get("future")
        coro = task.get_coro() if isinstance(task, asyncio.Task) else None
        if isinstance(context.get("exception"), ConnectionError) and \
                getattr(coro, "__qualname__", "").endswith("SctpTransport._data_channel_flush"):
            log.debug("a data channel send failed as its connection closed: %s", context.get("exception"))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiets_aiortc_teardown = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


CLOSE_TIMEOUT_S = 5.0
"""How long closing a PeerConnection may take before it is abandoned (logged)."""


async def close_peer_connection(pc: RTCPeerConnection, remote_id: str) -> None:
    """pc.close(), bounded as a safety net (a call's stop() must end even if aiortc's close does not), and apart
    from the calling task, so that the caller stays cancellable (see finish_apart)."""
    if not await finish_apart(pc.close(), CLOSE_TIMEOUT_S):
        log.warning("closing the connection to %s took over %g s; abandoned", remote_id, CLOSE_TIMEOUT_S)


@dataclass
class LinkTimes:
    """When a connection's ICE and DTLS came up, in µs on the call's clock (None: not yet; mutable)."""

    ice_connected_us: int | None = None
    """ICE found a working candidate pair (iceConnectionState 'completed' in aiortc)."""
    dtls_connected_us: int | None = None
    """The DTLS handshake finished (connectionState 'connected')."""


def watch_connection(pc: RTCPeerConnection, times: LinkTimes, clock: Clock) -> None:
    """Note in `times` when `pc`'s ICE and DTLS come up (first time only)."""
    def ice() -> None:
        if pc.iceConnectionState in ("connected", "completed") and times.ice_connected_us is None:
            times.ice_connected_us = clock.now_us()

    def connection() -> None:
        if pc.connectionState == "connected" and times.dtls_connected_us is None:
            times.dtls_connected_us = clock.now_us()

    pc.on("iceconnectionstatechange", ice)
    pc.on("connectionstatechange", connection)


@dataclass(frozen=True)
class PeerConfig:
    """How PeerLinks connect."""

    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs; empty means host candidates only (no public server is contacted)."""
    loopback_only: bool = False
    """Offer only 127.0.0.1 as host candidate (see use_loopback_ice); for tests and local benchmarks."""
    host_addresses: tuple[str, ...] = ()
    """Offer exactly these host candidates (e.g. ('127.0.0.2',) beside a Janus in a namespace); overrides
    loopback_only."""
    latent_max_buffered_bytes: int = 2048
    """A latent frame is dropped at the sender (counted) while more than this is queued on the channel:
    the frame behind it is newer, and SCTP congestion control would otherwise let a queue (and delay) grow."""
    connect_timeout_s: float = 15.0
    """How long wait_open() waits for both data channels."""


@dataclass
class PeerLinkStats:
    """Counters of one link (mutable, updated in place)."""

    latent_sent: int = 0
    """Latent messages handed to SCTP."""
    latent_sent_bytes: int = 0
    """Their payload bytes."""
    latent_fragmented: int = 0
    """Latent messages longer than one SCTP DATA chunk (SINGLE_CHUNK_BYTES): under loss a lost fragment loses
    the message and the abandoned fragments stall the association (docs/calls.md); keep frames smaller."""
    latent_dropped_congested: int = 0
    """Latent messages not sent because the channel still held older ones (latest wins)."""
    latent_received: int = 0
    """Latent messages received (valid or not)."""
    latent_received_bytes: int = 0
    """Their payload bytes."""
    control_sent: int = 0
    """Control messages sent."""
    control_received: int = 0
    """Control messages received."""
    audio_frames_received: int = 0
    """Decoded audio frames read from the voice track (the aiortc path's drain; 0 when codecav takes the packets)."""
    datagrams_sent: int = 0
    """UDP datagrams sent since the channels opened (DTLS records: SCTP data, SACKs, SRTP voice)."""
    datagram_bytes_sent: int = 0
    """Their UDP payload bytes (add 28 per datagram for IPv4 + UDP headers)."""
    errors: list[str] = field(default_factory=list)
    """Callback errors, one line each (the link keeps running)."""


BytesHandler = Callable[[bytes | str], None]
"""Called on the event loop with each received data-channel message."""
TrackHandler = Callable[[MediaStreamTrack], Awaitable[None]]
"""Consumes a remote audio track until it ends (runs as a task of the link)."""


class PeerLink:
    """One RTCPeerConnection to `remote_id`: negotiated latent/control channels and an optional voice track."""

    def __init__(
        self,
        remote_id: str,
        config: PeerConfig,
        *,
        on_latent: BytesHandler,
        on_control: BytesHandler,
        audio_track: MediaStreamTrack | None = None,
        on_audio_track: TrackHandler | None = None,
        receive_audio: bool = False,
        on_audio_packet: VoicePacketHandler | None = None,
        decode_audio: bool = True,
        clock: Clock = MONOTONIC,
    ) -> None:
        """`audio_track` is sent as voice. With `receive_audio`, each remote voice packet goes to `on_audio_packet`
        as it arrives (codecav.net.rtp_tap) and `on_audio_track` consumes the track aiortc decodes into, unless
        `decode_audio` is False: then aiortc decodes nothing. `clock` stamps arrivals and LinkTimes."""
        negotiate_opus_voice()
        if config.host_addresses:
            use_host_addresses(config.host_addresses)
        elif config.loopback_only:
            use_loopback_ice()
        self.remote_id = remote_id
        self.config = config
        self.stats = PeerLinkStats()
        servers = [RTCIceServer(urls=url) for url in config.ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.latent: RTCDataChannel = self.pc.createDataChannel(
            "latent", ordered=False, maxRetransmits=0, negotiated=True, id=LATENT_CHANNEL_ID)
        self.control: RTCDataChannel = self.pc.createDataChannel("control", negotiated=True, id=CONTROL_CHANNEL_ID)
        self._on_latent = on_latent
        self._on_control = on_control
        self._on_audio_track = on_audio_track
        self._on_audio_packet = on_audio_packet
        self._decode_audio = decode_audio
        self._clock = clock
        self.audio_tap: ReceiverTap | None = None
        """The tapped receiver of the remote voice, once its track arrived."""
        self.times = LinkTimes()
        """When ICE and DTLS came up."""
        watch_connection(self.pc, self.times, clock)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._counting = False
        self.latent.on("message", self._latent_message)
        self.control.on("message", self._control_message)
        if audio_track is not None:
            self.pc.addTransceiver(audio_track, direction="sendrecv" if receive_audio else "sendonly")
        elif receive_audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._track)

    # -- receiving ------------------------------------------------------------------------------------------------

    def _latent_message(self, data: bytes | str) -> None:
        self.stats.latent_received += 1
        self.stats.latent_received_bytes += len(data)
        self._call(self._on_latent, data)

    def _control_message(self, data: bytes | str) -> None:
        self.stats.control_received += 1
        self._call(self._on_control, data)

    def _call(self, handler: BytesHandler, data: bytes | str) -> None:
        try:
            handler(data)
        except Exception as exc:  # a handler bug must not tear down the connection; it is counted and logged
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("handler of peer %s failed", self.remote_id)

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        if self._on_audio_packet is not None:
            self.audio_tap = tap_audio_track(self.pc, track, self._on_audio_packet, self.stats.errors,
                                             clock=self._clock, stop_decoding=not self._decode_audio)
        if self._decode_audio:
            self._spawn((self._on_audio_track or self._drain)(track))

    async def _drain(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.stats.audio_frames_received += 1

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- negotiation ----------------------------------------------------------------------------------------------

    async def create_offer(self) -> str:
        """Gather candidates and return the offer SDP (aiortc puts every candidate in the SDP)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_offer(self, sdp: str) -> str:
        """Apply the remote offer and return the answer SDP."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        """Apply the remote answer to our offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def add_candidate(self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> None:
        """Add a trickled remote candidate (browsers trickle; aiortc peers put all candidates in the SDP)."""
        if not candidate:
            return
        parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        await self.pc.addIceCandidate(parsed)

    async def wait_open(self) -> None:
        """Wait until both data channels are open; NetError naming the state after connect_timeout_s."""
        async def both_open() -> None:
            while self.latent.readyState != "open" or self.control.readyState != "open":
                if self.pc.connectionState in ("failed", "closed"):
                    raise NetError(f"connection to peer {self.remote_id} {self.pc.connectionState}; "
                                   "check that both sides can reach each other (ICE servers, firewall)")
                await asyncio.sleep(0.01)

        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that arrives as the
            # channels open, and the peer's task then runs on after stop() cancelled it (stop() hangs).
            async with asyncio.timeout(self.config.connect_timeout_s):
                await both_open()
        except TimeoutError:
            raise NetError(f"data channels to peer {self.remote_id} did not open within "
                           f"{self.config.connect_timeout_s:g} s (ICE {self.pc.iceConnectionState}); "
                           "check ICE servers and firewall") from None
        self._count_datagrams()

    @property
    def is_open(self) -> bool:
        """Whether both data channels are open."""
        return self.latent.readyState == "open" and self.control.readyState == "open"

    # -- sending --------------------------------------------------------------------------------------------------

    def send_latent(self, data: bytes) -> bool:
        """Send one latent frame unless older ones still queue (latest wins); False when dropped or closed."""
        if self.latent.readyState != "open":
            return False
        if self.latent.bufferedAmount > self.config.latent_max_buffered_bytes:
            self.stats.latent_dropped_congested += 1
            return False
        self.latent.send(data)
        if len(data) > SINGLE_CHUNK_BYTES:
            self.stats.latent_fragmented += 1
        self.stats.latent_sent += 1
        self.stats.latent_sent_bytes += len(data)
        return True

    def send_control(self, data: bytes) -> None:
        """Send one control message (reliable, ordered); NetError if the channel is not open."""
        if self.control.readyState != "open":
            raise NetError(f"control channel to peer {self.remote_id} is {self.control.readyState}; "
                           "wait for the link to open")
        self.control.send(data)
        self.stats.control_sent += 1

    def control_backlog(self) -> int:
        """Bytes queued on the control channel and not yet sent."""
        return int(self.control.bufferedAmount)

    def _count_datagrams(self) -> None:
        """Count every datagram the ICE transport sends (DTLS: SCTP data and SRTP voice alike)."""
        ice: Any = self.pc.sctp.transport.transport if self.pc.sctp is not None else None
        if ice is None or self._counting:
            return
        self._counting = True
        send = ice._send  # aioice Connection.send, bound when the transport started

        async def counted(data: bytes) -> None:
            self.stats.datagrams_sent += 1
            self.stats.datagram_bytes_sent += len(data)
            await send(data)

        ice._send = counted

    async def close(self) -> None:
        """Close the connection and await the link's tasks."""
        if self._closed:
            return
        self._closed = True
        await close_peer_connection(self.pc, self.remote_id)
        for task in list(self._tasks):
            await cancel_and_wait(task, MediaStreamError)
