"""Garbage on a live call: hypothesis through the receiving handlers, and raw bytes over real data channels.
The call must count the drops and go on."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codecav.encoders.synthetic_source import SyntheticLatentSource
from codecav.latent import LatentFrame
from codecav.net.call_session import CallSession
from codecav.net.signaling.server import SignalingServer
from codecav.net.wire.frames import encode_latent_frame
from tests.net.calls import SECRET, latent_received, send_frames, session
from tests.net.loopback import until


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip, cut or splice bytes of a valid message."""
    b = bytearray(data)
    choice = rng.randrange(3)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif choice == 1:
        del b[rng.randrange(len(b)) :]
    else:
        b[rng.randrange(len(b)) : rng.randrange(len(b))] = rng.randbytes(rng.randint(1, 40))
    return bytes(b)


class LiveCall:
    """Two sessions connected once for the whole module (hypothesis runs many examples against them)."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = SignalingServer("127.0.0.1", 0, SECRET)
        self.loop.run_until_complete(self.server.start())
        self.alice = session(self.server, "alice", tmp, seed=1)
        self.bob = session(self.server, "bob", tmp, seed=2)
        self.loop.run_until_complete(self._connect())

    async def _connect(self) -> None:
        await self.alice.start()
        await self.bob.start()
        await self.alice.wait_for_peers(1)
        await self.bob.wait_for_peers(1)

    def close(self) -> None:
        async def stop() -> None:
            await self.alice.stop()
            await self.bob.stop()
            await self.server.stop()

        self.loop.run_until_complete(stop())
        self.loop.close()


def test_garbage_through_the_handlers_and_over_the_wire_never_stops_the_call(tmp_path: Path) -> None:
    live = LiveCall(tmp_path)
    try:
        remote = live.bob._remotes["alice"]

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
        @given(st.one_of(st.binary(max_size=600), st.text(max_size=100)))
        def feed(data: bytes | str) -> None:
            remote.on_latent(data)  # raises nothing: counted drops only
            remote.on_control(data)

        feed()
        assert remote.link.stats.errors == []

        async def over_the_wire(call: CallSession) -> None:
            rng = random.Random(3)
            link = call._remotes["bob"].link
            valid = encode_latent_frame(_frame(call, 10_000), call.own.package.manifest.latent)
            latent_before = latent_received(live.bob, "alice")
            control_before = remote.link.stats.control_received
            for _ in range(300):
                link.latent.send(mutate(valid, rng))
                link.control.send(rng.randbytes(rng.randint(1, 300)))
                await asyncio.sleep(0.001)  # pacing: a burst would only queue up in SCTP
            await send_frames(call, 30)
            # Every message sent has arrived: 300 mutated + 30 valid latent frames, 300 garbage control messages.
            assert await until(lambda: latent_received(live.bob, "alice") == latent_before + 330
                               and remote.link.stats.control_received >= control_before + 300)

        before = live.bob.stats().peers[0]
        live.loop.run_until_complete(over_the_wire(live.alice))
        after = live.bob.stats().peers[0]
        assert sum(after.wire_dropped.values()) > sum(before.wire_dropped.values()) + 300
        assert after.frames_accepted >= before.frames_accepted + 25  # valid frames still flow
        assert after.connected and remote.link.stats.errors == []
        assert live.bob.remote_frame("alice") is not None
    finally:
        live.close()


def _frame(call: CallSession, sequence: int) -> LatentFrame:
    return SyntheticLatentSource(call.own.package.manifest.latent).frame_at(sequence, 1)
