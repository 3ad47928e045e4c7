"""A remote peer's clock-sync pings on real WebRTC over loopback: every 2 s while our frames flow to it (each
ping costs ~1 kbit/s on the wire, issue 15), every `peer_silent_s` / 4 while only the peer's frames flow, on
every 0.5 s check while nothing flows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from codecav.net.call_session import CallSession
from codecav.net.signaling.server import SignalingServer
from tests.net.calls import SECRET, send_frames, session
from tests.net.loopback import until


def clock_samples(call: CallSession, peer: str) -> int:
    """Pong round trips `call` has completed with `peer` (its clock-sync window holds up to 32)."""
    estimate = call._remotes[peer].sync.estimate()
    return 0 if estimate is None else estimate.samples


def test_pings_follow_which_way_frames_flow(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice, bob = session(server, "alice", tmp_path, seed=1), session(server, "bob", tmp_path, seed=2)
            for call in (alice, bob):
                await call.start()
            try:
                for call in (alice, bob):
                    await call.wait_for_peers(1)
                # Past the 8 fast pings of the start (50 ms apart) on both sides.
                assert await until(lambda: clock_samples(alice, "bob") >= 8 and clock_samples(bob, "alice") >= 8)
                await asyncio.sleep(0.5)
                alice_before, bob_before = clock_samples(alice, "bob"), clock_samples(bob, "alice")
                await asyncio.sleep(4.0)  # nothing flows: a ping on every 0.5 s check (8), both ways
                idle = clock_samples(alice, "bob") - alice_before, clock_samples(bob, "alice") - bob_before
                assert min(idle) >= 5, f"idle pings in 4 s (alice, bob): {idle}"
                alice_before, bob_before = clock_samples(alice, "bob"), clock_samples(bob, "alice")
                await send_frames(alice, 150)  # 5 s of alice's frames; bob sends none
                alice_pings = clock_samples(alice, "bob") - alice_before
                bob_pings = clock_samples(bob, "alice") - bob_before
                assert alice_pings <= 4, f"alice pinged {alice_pings} times in 5 s while her frames flowed"
                # bob only receives: every peer_silent_s / 4 = 1.25 s (4), not on every 0.5 s check (10)
                assert 1 <= bob_pings <= 6, f"bob, receiving only, pinged {bob_pings} times in 5 s"
                assert alice.stats().peers[0].frames_accepted == 0 < bob.stats().peers[0].frames_accepted
            finally:
                for call in (alice, bob):
                    await call.stop()

    asyncio.run(main())
