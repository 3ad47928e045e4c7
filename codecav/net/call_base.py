"""What every kind of call (full mesh, SFU) shares: the remote participants, their playout, voice and stats."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Generic

import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.clock import Clock
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import AvatarCache, ExchangeStats, OwnAvatar
from codecav.net.call_types import CallConfig, CallStats, FrameTiming, PeerCallStats, RemoteFrame
from codecav.net.errors import NetError
from codecav.net.lip_sync import LipSync
from codecav.net.remote_peer import L, RemotePeer
from codecav.net.rtp_tap import ReceiverTap, VoicePacketHandler
from codecav.net.tasks import cancel_and_wait
from codecav.net.voice_baseline import DecodedVoice
from codecav.net.voice_mix import ChunkSource, VoiceMix
from codecav.net.voice_playout import VoicePacket
from codecav.net.voice_receiver import RemoteVoice, VoiceReceiver
from codecav.net.wire.frames_v2 import LatentFrameSender

log = logging.getLogger(__name__)


def new_remote_voice(config: CallConfig) -> RemoteVoice:
    """A remote voice for config.voice_path: codecav's VoiceReceiver, or aiortc's decoded frames (baseline)."""
    if config.voice_path == "codecav":
        return VoiceReceiver(config.voice_playout, sync=LipSync(config.lip_sync))
    return DecodedVoice()


def voice_packet_handler(voice: RemoteVoice, tap: Callable[[], ReceiverTap | None]) -> VoicePacketHandler:
    """What to do with each voice RTP packet of `voice` as it arrives; `tap()` is the tapped receiver, if any."""
    if isinstance(voice, VoiceReceiver):
        return voice.push
    assert isinstance(voice, DecodedVoice)

    def note(packet: VoicePacket) -> None:
        tapped = tap()
        voice.note_packet(packet, tapped.decoded_origin() if tapped is not None else None)

    return note


class CallBase(Generic[L]):
    """Remote participants keyed by peer id, each a RemotePeer over a link of type L."""

    def __init__(self, config: CallConfig, own_avatar: OwnAvatar, clock: Clock) -> None:
        """`clock` stamps every send, receive and default render time (FakeClock in tests)."""
        self.config = config
        self.own = own_avatar
        self.clock = clock
        """The call's time source; its microseconds (now_us) are the clock of capture and render times."""
        self._departed: list[PeerCallStats] = []
        self._cache = AvatarCache(config.cache_dir, config.max_cache_bytes)
        self._exchange = ExchangeStats()
        self._remotes: dict[str, RemotePeer[L]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._timings: deque[FrameTiming] = deque(maxlen=config.timings_kept)
        self._frames_sent = 0
        self._layout = own_avatar.package.manifest.latent
        self._latent_sender = LatentFrameSender(self._layout, own_avatar.package.quant_table, config.quant)
        self._voice_mix = VoiceMix(self._voice_sources)

    async def start(self) -> None:
        """Join the call."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Leave the call and await every task."""
        raise NotImplementedError

    def send(self, frame: LatentFrame) -> int:
        """Encode `frame` once and send it to the others; how many links it went out on."""
        raise NotImplementedError

    async def __aenter__(self) -> CallBase[L]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for_peers(self, count: int, timeout_s: float = 20.0, *, avatars: bool = True) -> None:
        """Wait until `count` remote peers are connected (and, with `avatars`, their avatars verified); NetError at
        once when a peer leaves or is dropped meanwhile and too few are left to reach `count`."""
        departed_before = len(self._departed)

        def missing(remote: RemotePeer[L]) -> list[str]:
            return [what for what, done in (("link", remote.link.is_open),
                                            ("avatar", not avatars or remote.jitter is not None),
                                            ("clock sync", remote.sync.estimate() is not None)) if not done]

        def good_remotes() -> list[RemotePeer[L]]:
            return [r for r in self._remotes.values() if not missing(r)]

        def waiting_on() -> str:
            steps = {r.peer_id: missing(r) for r in self._remotes.values()}
            lacking = [f"{peer} without {' and '.join(what)}" for peer, what in steps.items() if what]
            return f" ({'; '.join(lacking)})" if lacking else ""

        async def ready() -> None:
            while True:
                if len(good_remotes()) >= count:
                    return
                gone = self._departed[departed_before:]
                if gone and len(self._remotes) < count:
                    last = gone[-1]
                    raise NetError(f"peer {last.peer} went away ({last.departed_reason or 'left'}) while this "
                                   f"participant waited for {count} peer(s); only {len(self._remotes)} remain")
                await asyncio.sleep(0.01)

        try:
            async with asyncio.timeout(timeout_s):  # not wait_for: see PeerLink.wait_open
                await ready()
        except TimeoutError:
            raise NetError(f"only {len(good_remotes())} of {count} peers joined within {timeout_s:g} s"
                           f"{waiting_on()}; check that the others run and use the same room") from None

    async def _run_remote(self, remote: RemotePeer[L]) -> None:
        """The peer's task; a peer that fails (link never opened, silent, no avatar) is dropped with one line."""
        try:
            await remote.run()
        except NetError as exc:
            log.warning("%s", exc)
            if self._remotes.get(remote.peer_id) is remote:
                self._departed.append(replace(remote.snapshot(), departed_reason=str(exc)))
                del self._remotes[remote.peer_id]
                self._runners.pop(remote.peer_id, None)  # this task: ends here
                await remote.close("dropped")
                self._after_drop(remote.peer_id)

    def _after_drop(self, peer_id: str) -> None:
        """`peer_id` was dropped (silent, never answered, no avatar) though nobody said it left: a subclass may
        link it again (event loop)."""

    async def _remove_remote(self, peer_id: str, reason: str) -> None:
        """Forget a participant: final stats kept, its tasks awaited, its link closed."""
        remote = self._remotes.get(peer_id)
        if remote is not None:
            self._departed.append(replace(remote.snapshot(), departed_reason=reason))
        self._remotes.pop(peer_id, None)
        runner = self._runners.pop(peer_id, None)
        await cancel_and_wait(runner)
        if remote is not None:
            await remote.close(reason)

    def remote_frames(self, render_us: int | None = None) -> list[RemoteFrame]:
        """Every remote avatar's state at `render_us` (default now), peers with verified avatars only.
        Safe from any thread."""
        at = self.clock.now_us() if render_us is None else render_us
        frames = []
        for remote in list(self._remotes.values()):
            frame = remote.sample(at)
            if frame is not None:
                frames.append(frame)
        return frames

    def remote_frame(self, peer: str, render_us: int | None = None, photon_lead_us: int = 0) -> RemoteFrame | None:
        """One peer's avatar state at `render_us` (default now), reaching the eye `photon_lead_us` later (for
        lip-sync); None if unknown or its avatar is not ready."""
        remote = self._remotes.get(peer)
        return None if remote is None else remote.sample(self.clock.now_us() if render_us is None else render_us,
                                                         photon_lead_us)

    def ready_peers(self) -> list[tuple[str, str, AvatarPackage]]:
        """(peer id, avatar sha256, verified package) of every peer whose avatar is ready (any thread)."""
        out = []
        for remote in list(self._remotes.values()):
            package = remote.fetch.package
            if package is not None and remote.jitter is not None and remote.hello is not None:
                out.append((remote.peer_id, remote.hello.avatar_sha256, package))
        return out

    def _voice_sources(self) -> list[ChunkSource]:
        return [remote.voice_chunk for remote in list(self._remotes.values())]

    def voice_samples(self, play_us: float, n: int) -> np.ndarray:
        """`n` samples (48 kHz mono float32) of every remote voice mixed, to be heard from `play_us` (call clock),
        each in sync with its face. Pulled 10 ms at a time on one playout clock (codecav.net.voice_mix): give
        `n` a multiple of 480 and consecutive play times. Any thread."""
        return self._voice_mix.samples(play_us, n)

    def frame_timings(self) -> list[FrameTiming]:
        """Per-frame timing records since the last call (drained), for the profiler."""
        out = []
        while self._timings:
            out.append(self._timings.popleft())
        return out

    @property
    def peers(self) -> tuple[str, ...]:
        """Remote peer ids."""
        return tuple(self._remotes)

    def note_decoder_dropped(self, peer: str, reason: str) -> None:
        """The renderer refused or dropped `peer`'s decoder (e.g. it blew its time budget): counted with the
        avatar refusals as `decoder:REASON` (event loop; the peer stays in the call, its voice goes on)."""
        key = f"decoder:{reason}"
        self._exchange.refused[key] = self._exchange.refused.get(key, 0) + 1
        log.warning("the decoder of peer %s was dropped (%s); the call goes on", peer, reason)

    def stats(self) -> CallStats:
        """A snapshot of counters, clock estimates and jitter-buffer state."""
        return CallStats(
            peer_id=self.config.peer_id,
            room=self.config.room,
            frames_sent=self._frames_sent,
            peers=tuple(r.snapshot() for r in self._remotes.values()),
            departed=tuple(self._departed),
            avatar_from_cache=self._exchange.from_cache,
            avatar_fetched=self._exchange.fetched,
            avatar_refused=dict(self._exchange.refused),
        )
