"""A two-party call under loss and jitter, sampled at 90 Hz; prints JSON stats. Run inside a network namespace
with `tc netem` on lo, or with --impair LOSS,JITTER_MS for the user-space impairment (codecav.net.impairment).

    python -m tests.net.lossy_call --seconds 6 [--impair 0.2,30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from codecav.net.impairment import Impairment, impair
from codecav.net.signaling.server import SignalingServer
from tests.net.calls import SECRET, send_frames, session
from tests.net.loopback import until


async def run(seconds: float, impairment: Impairment | None) -> dict[str, Any]:
    """Connect, (impair,) send 30 frames/s for `seconds` while the receiver samples at 90 Hz."""
    with tempfile.TemporaryDirectory() as tmp:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice = session(server, "alice", Path(tmp), seed=1)
            bob = session(server, "bob", Path(tmp), seed=2)
            await alice.start()
            await bob.start()
            try:
                await alice.wait_for_peers(1, timeout_s=60)
                await bob.wait_for_peers(1, timeout_s=60)
                dropped = []
                if impairment is not None:
                    dropped.append(impair(alice._remotes["bob"].link, impairment))
                    dropped.append(impair(bob._remotes["alice"].link, impairment))
                states: dict[str, int] = {}

                async def display() -> None:
                    while True:
                        frame = bob.remote_frame("alice")
                        if frame is not None:
                            states[frame.sample.state.value] = states.get(frame.sample.state.value, 0) + 1
                        await asyncio.sleep(1 / 90)

                shown = asyncio.create_task(display())
                await send_frames(alice, int(seconds * 30))
                shown.cancel()  # stop showing with the last frame: the end of the stream is no freeze
                # Let what is in flight land: alice's latent channel drained into the network and every datagram
                # the user-space impairment delayed handed on (under tc netem the kernel holds them unseen).
                sending = alice._remotes["bob"].link.latent
                await until(lambda: sending.bufferedAmount == 0 and all(d.in_flight == 0 for d in dropped), 5)
                peer = bob.stats().peers[0]
                return {"longest_freeze_ms": peer.longest_freeze_ms, "frames_accepted": peer.frames_accepted,
                        "frames_lost": peer.frames_lost, "frames_late": peer.frames_late,
                        "playout_delay_ms": peer.playout_delay_ms, "states": states,
                        "datagrams_dropped_by_impairment": sum(d.dropped for d in dropped),
                        "frames_sent": int(seconds * 30)}
            finally:
                await alice.stop()
                await bob.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--impair", default=None, help="LOSS,JITTER_MS for the user-space impairment")
    args = parser.parse_args()
    impairment = None
    if args.impair:
        loss, jitter = (float(x) for x in args.impair.split(","))
        impairment = Impairment(loss=loss, delay_ms=jitter, jitter_ms=jitter, seed=1)
    print(json.dumps(asyncio.run(run(args.seconds, impairment))))


if __name__ == "__main__":
    main()
