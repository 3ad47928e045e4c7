"""What every kind of call (full mesh, SFU) shares: the remote participants, their playout, voice and stats."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Generic

import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.clock import Clock
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import AvatarCache, ExchangeStats, OwnAvatar
from codecav.net.call_types import CallConfig, CallStats, FrameTiming, PeerCallStats, RemoteFrame
from codecav.net.errors import NetError
from codecav.net.remote_peer import L, RemotePeer
from codecav.net.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class CallBase(Generic[L]):
    """Remote participants keyed by peer id, each a RemotePeer over a link of type L."""

    def __init__(self, config: CallConfig, own_avatar: OwnAvatar, clock: Clock) -> None:
        """`clock` stamps every send, receive and default render time (FakeClock in tests)."""
        self.config = config
        self.own = own_avatar
        self.clock = clock
        """The call's time source; its microseconds (now_us) are the clock of capture and render times."""
        self._departed: list[PeerCallStats] = []
        self._cache = AvatarCache(config.cache_dir)
        self._exchange = ExchangeStats()
        self._remotes: dict[str, RemotePeer[L]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._timings: deque[FrameTiming] = deque(maxlen=config.timings_kept)
        self._frames_sent = 0
        self._layout = own_avatar.package.manifest.latent

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
        """Wait until `count` remote peers are connected (and, with `avatars`, their avatars verified)."""
        async def ready() -> None:
            while True:
                good = [r for r in self._remotes.values()
                        if r.link.is_open and (not avatars or r.jitter is not None) and r.sync.estimate()]
                if len(good) >= count:
                    return
                await asyncio.sleep(0.01)

        try:
            await asyncio.wait_for(ready(), timeout_s)
        except TimeoutError:
            raise NetError(f"only {len(self._remotes)} of {count} peers joined within {timeout_s:g} s; "
                           "check that the others run and use the same room") from None

    async def _run_remote(self, remote: RemotePeer[L]) -> None:
        try:
            await remote.run()
        except NetError as exc:
            log.warning("peer %s: %s", remote.peer_id, exc)

    async def _remove_remote(self, peer_id: str, reason: str) -> None:
        """Forget a participant: final stats kept, its tasks awaited, its link closed."""
        remote = self._remotes.get(peer_id)
        if remote is not None:
            self._departed.append(remote.snapshot())
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

    def remote_frame(self, peer: str, render_us: int | None = None) -> RemoteFrame | None:
        """One peer's avatar state at `render_us` (default now); None if unknown or its avatar is not ready."""
        remote = self._remotes.get(peer)
        return None if remote is None else remote.sample(self.clock.now_us() if render_us is None else render_us)

    def ready_peers(self) -> list[tuple[str, str, AvatarPackage]]:
        """(peer id, avatar sha256, verified package) of every peer whose avatar is ready (any thread)."""
        out = []
        for remote in list(self._remotes.values()):
            package = remote.fetch.package
            if package is not None and remote.jitter is not None and remote.hello is not None:
                out.append((remote.peer_id, remote.hello.avatar_sha256, package))
        return out

    def voice_samples(self, play_us: float, n: int) -> np.ndarray:
        """`n` samples (48 kHz mono float32) of every remote voice mixed, to play from `play_us`, each aligned
        with its face: audio captured at C plays at C + that face's playout delay. Any thread."""
        mix = np.zeros(n, np.float32)
        for remote in list(self._remotes.values()):
            samples = remote.voice_samples(play_us, n)
            if samples is not None:
                mix += samples
        return np.clip(mix, -1.0, 1.0)

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
