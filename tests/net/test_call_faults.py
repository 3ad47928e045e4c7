"""Faults a call survives, on real WebRTC over loopback with a real signaling server: a peer that goes silent
(hung, network gone) is dropped while the others go on, and linked again once it answers; a peer restarting
with the same id is linked again and its avatar comes from the cache; the signaling server restarting
mid-call leaves the media flowing and the clients rejoin it by themselves; a participant waiting for others
is told at once when one leaves instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from codecav.net.call_session import (
    RELINK_FIRST_WAIT_S,
    RELINK_MAX_WAIT_S,
    RELINK_RESET_S,
    CallSession,
    next_relink_wait,
)
from codecav.net.errors import NetError
from codecav.net.impairment import Impairment, impair
from codecav.net.remote_peer import RemotePeer
from codecav.net.signaling.messages import Offer
from codecav.net.signaling.server import SignalingServer
from tests.net.calls import SECRET, latent_received, send_frames, session
from tests.net.loopback import until


async def crash(call: CallSession) -> None:
    """What the others see of a participant killed mid-call: nothing more from its links (no bye), and its
    signaling connection closed by its operating system (no leave). (In-process stand-in for kill -9;
    benchmarks/faults.py kills real processes.)"""
    task, call._signal_task = call._signal_task, None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for remote in call._remotes.values():
        impair(remote.link, Impairment(loss=1.0))
    if call._signaling is not None:
        await call._signaling.close()
        call._signaling = None


def test_a_silent_peer_is_dropped_and_the_others_go_on(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            calls = [session(server, name, tmp_path, seed=i) for i, name in enumerate(("alice", "bob", "carol"))]
            for call in calls:
                call.config = replace(call.config, peer_silent_s=1.5)  # sooner than the default 5 s
            alice, bob, carol = calls
            for call in calls:
                await call.start()
            try:
                for call in calls:
                    await call.wait_for_peers(2)
                # carol's process hangs or her network goes: nothing of hers arrives any more, yet she stays in
                # the signaling room (no PeerLeft reaches the others).
                for remote in carol._remotes.values():
                    impair(remote.link, Impairment(loss=1.0))
                talk = asyncio.gather(send_frames(alice, 120), send_frames(bob, 120))
                def dropped_carol(call: CallSession) -> bool:
                    return any(d.peer == "carol" and "went silent" in d.departed_reason for d in call.stats().departed)

                with caplog.at_level(logging.WARNING):
                    # Each drops her on its own clock; by the time the second does, the first may have linked her
                    # again (her process answers the new offer): so the drops are counted, not the links.
                    assert await until(lambda: dropped_carol(alice) and dropped_carol(bob),
                                       10.0), "the silent carol was not dropped"  # how fast: benchmarks/faults.py
                await talk
                before = latent_received(alice, "bob")
                await send_frames(bob, 45)  # after the drop, however long it took
                assert latent_received(alice, "bob") - before > 30, "alice still receives bob after the drop"
                # Still in the room, carol is offered a new link.
                assert await until(lambda: alice.relinks + bob.relinks >= 1, 5.0)
                assert [p.peer for p in alice.stats().peers if p.frames_accepted] == ["bob"]
                departed = alice.stats().departed[0]
                assert departed.peer == "carol" and "went silent" in departed.departed_reason
                lines = [r.getMessage() for r in caplog.records if "carol" in r.getMessage()]
                assert any("went silent" in line and "\n" not in line for line in lines), lines
            finally:
                for call in calls:
                    await call.stop()

    asyncio.run(main())


def test_a_peer_dropped_for_a_stall_is_linked_again_when_it_answers(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice = session(server, "alice", tmp_path, seed=1)
            carol = session(server, "carol", tmp_path, seed=3)
            for call in (alice, carol):
                call.config = replace(call.config, peer_silent_s=1.5)
                await call.start()
            try:
                for call in (alice, carol):
                    await call.wait_for_peers(1)
                # carol stalls: nothing of hers reaches alice for a while (her process was starved, say), but she
                # never left the room and still hears alice, so she keeps her link.
                impair(carol._remotes["alice"].link, Impairment(loss=1.0))
                talk = asyncio.ensure_future(send_frames(carol, 300))
                assert await until(lambda: any(d.peer == "carol" for d in alice.stats().departed), 10.0)
                # alice (the smaller id) offers again; carol takes the offer in place of her old link.
                assert await until(lambda: latent_received(alice, "carol") > 10, 15.0), \
                    "carol's frames did not come back after the relink"
                assert alice.relinks == 1
                await talk
            finally:
                for call in (alice, carol):
                    await call.stop()

    asyncio.run(main())


def test_a_restarted_peer_is_linked_again_with_its_avatar_from_the_cache(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice, bob = session(server, "alice", tmp_path, seed=1), session(server, "bob", tmp_path, seed=2)
            await alice.start()
            await bob.start()
            try:
                await alice.wait_for_peers(1)
                await bob.wait_for_peers(1)
                fetched = alice._exchange.fetched
                await crash(bob)
                assert await until(lambda: "bob" not in alice._remotes, 10.0), "the server did not tell alice"
                bob2 = session(server, "bob", tmp_path, seed=2)  # the same id, the same cache
                await bob2.start()
                try:
                    await alice.wait_for_peers(1)
                    sending = asyncio.create_task(send_frames(bob2, 60))
                    assert await until(lambda: latent_received(alice, "bob") > 0, 10.0), "no frame of bob's"
                    await sending
                    assert alice._exchange.fetched == fetched, "the avatar came from alice's cache"
                    assert alice._exchange.from_cache >= 1
                    assert alice.remote_frame("bob") is not None
                finally:
                    await bob2.stop()
            finally:
                await alice.stop()
                await bob.stop()

    asyncio.run(main())


def test_the_media_outlives_a_signaling_restart_and_the_clients_rejoin(tmp_path: Path) -> None:
    async def main() -> None:
        server = SignalingServer("127.0.0.1", 0, SECRET)
        await server.start()
        port = server.port
        alice, bob = session(server, "alice", tmp_path, seed=1), session(server, "bob", tmp_path, seed=2)
        calls: list[CallSession] = [alice, bob]
        try:
            for call in calls:
                await call.start()
            for call in calls:
                await call.wait_for_peers(1)
            talk = asyncio.create_task(send_frames(bob, 150))  # 5 s of face while the server goes and comes
            await asyncio.sleep(0.5)
            await server.stop()
            assert await until(lambda: not alice.signaling_connected and not bob.signaling_connected, 5.0), \
                "the server's going was not noticed"
            during = latent_received(alice, "bob")
            await asyncio.sleep(0.5)
            assert latent_received(alice, "bob") > during + 5, "frames flow peer-to-peer without the server"
            server = SignalingServer("127.0.0.1", port, SECRET)
            await server.start()
            assert await until(lambda: alice.signaling_connected and bob.signaling_connected, 10.0), "no rejoin"
            assert alice.signaling_reconnects == 1 and bob.signaling_reconnects == 1
            assert list(alice._remotes) == ["bob"] and list(bob._remotes) == ["alice"], "no second link"
            carol = session(server, "carol", tmp_path, seed=3)  # the rejoined room works for a newcomer
            calls.append(carol)
            await carol.start()
            await carol.wait_for_peers(2)
            await talk
            assert alice.stats().peers[0].frames_accepted > 100
        finally:
            for call in calls:
                await call.stop()
            await server.stop()

    asyncio.run(main())


def test_waiting_for_peers_ends_at_once_when_one_leaves(tmp_path: Path) -> None:
    """A participant waiting for the others to join is told at once when one of them leaves instead."""
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice, bob = session(server, "alice", tmp_path, seed=1), session(server, "bob", tmp_path, seed=2)
            await alice.start()
            await bob.start()
            try:
                waiting = asyncio.create_task(alice.wait_for_peers(2, timeout_s=60))  # carol never comes
                assert await until(lambda: "bob" in alice._remotes and alice._remotes["bob"].link.is_open, 20.0), \
                    "bob did not link"
                await bob.stop()
                with pytest.raises(NetError, match="peer bob went away .* only 0 remain"):
                    await waiting
            finally:
                await alice.stop()
                await bob.stop()

    asyncio.run(main())


def test_relink_backoff_doubles_while_drops_follow_and_starts_again_after_a_calm() -> None:
    waits, state, now = [], None, 100.0
    for gap_s in (0, 5, 5, 5, 5, 5, 5, 5):  # drop after drop, 5 s apart
        now += gap_s
        wait_s, state = next_relink_wait(state, now)
        waits.append(wait_s)
    assert waits == [RELINK_FIRST_WAIT_S * 2**i for i in range(6)] + [RELINK_MAX_WAIT_S] * 2
    wait_s, _ = next_relink_wait(state, now + RELINK_RESET_S + 1)  # linked for over a minute, then dropped
    assert wait_s == RELINK_FIRST_WAIT_S


@pytest.mark.parametrize("never", ["answers the offer", "sends its avatar"])
def test_a_peer_that_never_answers_is_given_up_on_in_one_line(
        never: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """bob offers (the newcomer does); alice either never answers his offer, or asks for his avatar and never gets
    a chunk. The side left waiting gives up on the other in one line and its call goes on."""
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice, bob = session(server, "alice", tmp_path, seed=1), session(server, "bob", tmp_path, seed=12)
            if never == "answers the offer":
                on_signal = CallSession._on_signal

                async def alice_ignores_offers(self: CallSession, client: object, msg: object) -> None:
                    if self is not alice or not isinstance(msg, Offer):
                        await on_signal(self, client, msg)  # type: ignore[arg-type]

                monkeypatch.setattr(CallSession, "_on_signal", alice_ignores_offers)
                bob.config = replace(bob.config, peer=replace(bob.config.peer, connect_timeout_s=2.0))
                waiter, waited_for, reason = bob, "alice", "did not open within 2 s"
            else:
                send_avatar = RemotePeer._send_avatar

                async def bob_keeps_his_avatar(self: RemotePeer[Any]) -> None:
                    if self.config.peer_id != "bob":
                        await send_avatar(self)

                monkeypatch.setattr(RemotePeer, "_send_avatar", bob_keeps_his_avatar)
                alice.config = replace(alice.config, avatar_timeout_s=1.5)
                waiter, waited_for, reason = alice, "bob", "did not send its avatar"
            await alice.start()
            try:
                with caplog.at_level(logging.WARNING):
                    await bob.start()
                    assert await until(lambda: any(d.peer == waited_for for d in waiter.stats().departed), 15.0), \
                        f"{waiter.config.peer_id} kept waiting"
                departed = next(d for d in waiter.stats().departed if d.peer == waited_for)
                assert reason in departed.departed_reason
                lines = [r.getMessage() for r in caplog.records if reason in r.getMessage()]
                assert lines and all("\n" not in line for line in lines), lines
                assert waiter.signaling_connected, "the call goes on"
            finally:
                await bob.stop()
                await alice.stop()

    asyncio.run(main())
