"""CallSession over a real signaling server and real aiortc on loopback: two-party and 4-party mesh calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from codecav.encoders.synthetic_source import SyntheticLatentSource
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_session import CallSession
from codecav.net.call_types import CallConfig
from codecav.net.clock_sync import ClockSyncEstimator
from codecav.net.errors import NetError, SignalingError
from codecav.net.jitter_buffer import PlayoutState
from codecav.net.signaling.server import SignalingServer
from tests.net.calls import ROOM, SECRET, latent_received, send_frames, session, small_avatar
from tests.net.loopback import until


def test_two_party_call_fetches_avatars_syncs_clocks_and_plays_frames(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice = session(server, "alice", tmp_path, seed=1)
            bob = session(server, "bob", tmp_path, seed=2)
            await alice.start()
            await bob.start()
            try:
                await alice.wait_for_peers(1)
                await bob.wait_for_peers(1)
                await send_frames(alice, 45)
                assert await until(lambda: latent_received(bob, "alice") == 45), "not every frame reached bob"
                frames = bob.remote_frames()
                assert [f.peer for f in frames] == ["alice"]
                remote = frames[0]
                assert remote.avatar_sha256 == small_avatar(1).sha256
                assert remote.package.manifest.avatar_id == "synthetic-1"
                # the code shown is the one sent for the shown capture time, within int8 error
                source = SyntheticLatentSource(remote.package.manifest.latent, seed=0)
                render = bob.clock.now_us() - 300_000
                smp = bob.remote_frames(render)[0].sample
                assert smp.state in (PlayoutState.INTERPOLATED, PlayoutState.HELD)
                sent = source.frame_at(smp.sequence, 0).code
                assert np.max(np.abs(sent)) > 0.1 and np.allclose(smp.code, sent, atol=0.1)
                stats = bob.stats()
                peer = stats.peers[0]
                assert stats.avatar_fetched == 1 and not stats.avatar_refused
                assert peer.avatar == "ready" and peer.connected
                assert peer.clock_offset_us is not None and abs(peer.clock_offset_us) < 5_000  # same clock
                assert peer.frames_accepted >= 40 and peer.frames_lost <= 5
                timings = bob.frame_timings()
                assert len(timings) == peer.frames_accepted
                # none arrives before it was captured, within the clock estimate's own bound at the time (an early
                # estimate from a ping held up by a busy machine has a wide one)
                assert all(t.receive_us >= t.capture_local_us - t.clock_error_bound_us for t in timings)
                assert all(0 <= t.clock_error_bound_us < 1_000_000 for t in timings)
                assert alice.stats().peers[0].latent_sent == 45
            finally:
                await alice.stop()
                await bob.stop()
            # a rejoin finds the avatar in the cache
            bob2 = session(server, "bob", tmp_path, seed=2)
            alice2 = session(server, "alice", tmp_path, seed=1)
            await alice2.start()
            await bob2.start()
            try:
                await bob2.wait_for_peers(1)
                assert bob2.stats().avatar_from_cache == 1 and bob2.stats().avatar_fetched == 0
            finally:
                await alice2.stop()
                await bob2.stop()

    asyncio.run(main())


def test_four_party_mesh_everyone_sees_everyone(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            calls = [session(server, f"p{i}", tmp_path, seed=10 + i) for i in range(4)]
            for call in calls:
                await call.start()
            try:
                for call in calls:
                    await call.wait_for_peers(3, timeout_s=30)
                await asyncio.gather(*(send_frames(call, 30, seed=i) for i, call in enumerate(calls)))
                assert await until(lambda: all(latent_received(call, other.config.peer_id) == 30
                                               for call in calls for other in calls if other is not call))
                for call in calls:
                    seen = sorted(f.peer for f in call.remote_frames())
                    assert seen == sorted(c.config.peer_id for c in calls if c is not call)
                    for peer in call.stats().peers:
                        assert peer.frames_accepted >= 25, (call.config.peer_id, peer)
            finally:
                for call in calls:
                    await call.stop()

    asyncio.run(main())


def test_a_bad_token_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            call = session(server, "mallory", tmp_path, seed=1)
            bad = type(call.config)(**{**call.config.__dict__, "token": call.config.token[:-2] + "xx"})
            call.config = bad
            with pytest.raises(SignalingError, match="bad_token"):
                await call.start()
            assert server.room_peers(ROOM) == ()

    asyncio.run(main())


def test_a_tampered_avatar_is_refused_over_a_live_call_and_the_call_goes_on(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            good = small_avatar(7)
            data = bytearray(good.data)
            data[len(data) // 2] ^= 0xFF  # one flipped byte in transit, the announced digest unchanged
            tampered = OwnAvatar(good.package, bytes(data), good.sha256)
            mallory = session(server, "mallory", tmp_path, seed=7)
            mallory.own = tampered
            bob = session(server, "bob", tmp_path, seed=2)
            await mallory.start()
            await bob.start()
            try:
                await mallory.wait_for_peers(1)  # mallory verified bob's avatar; bob must refuse mallory's
                assert await until(lambda: bool(bob.stats().avatar_refused), 3)
                stats = bob.stats()
                assert stats.avatar_refused == {"hash_mismatch": 1} and stats.avatar_fetched == 0
                assert not any((tmp_path / "bob").rglob("*.cavatar"))  # nothing unverified was cached
                await send_frames(mallory, 15)
                assert await until(lambda: latent_received(bob, "mallory") == 15)
                peer = bob.stats().peers[0]
                assert peer.avatar == "refused" and peer.connected  # the call goes on
                assert peer.wire_dropped.get("no_avatar", 0) == 15  # frames for an unverified model: dropped
                assert bob.remote_frames() == []  # nothing to run
            finally:
                await mallory.stop()
                await bob.stop()

    asyncio.run(main())


def test_waiting_for_peers_names_what_each_one_still_lacks() -> None:
    """A peer in the call that never completes its join: the time-out names it and the missing steps (a stand-in
    remote, as a peer stuck half-way cannot be provoked on cue)."""
    @dataclass
    class StuckRemote:
        peer_id: str
        link: Any = field(default_factory=lambda: SimpleNamespace(is_open=True))
        jitter: Any = None
        sync: ClockSyncEstimator = field(default_factory=ClockSyncEstimator)

    async def main() -> None:
        call = CallSession(CallConfig(room="r", peer_id="alice", signal_url="ws://127.0.0.1:1", token=""),
                           small_avatar(1))
        call._remotes["bob"] = StuckRemote("bob")  # type: ignore[assignment]
        with pytest.raises(NetError) as raised:
            await call.wait_for_peers(1, timeout_s=0.05)
        assert str(raised.value).startswith("only 0 of 1 peers joined within 0.05 s (bob without avatar and "
                                            "clock sync); check that")

    asyncio.run(main())
