"""A stranger's avatar that would hang or crash a decoder, offered in a live call: the receiver refuses it (its
static checks, or the bounded trial run in a child process), counts the refusal by reason, and its call goes on
with the other participants."""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from codecav.assets.writer import write_avatar
from codecav.net.avatar_exchange import OwnAvatar, sha256_hex
from codecav.net.signaling.server import SignalingServer
from tests.assets.attacks import add_gather_out_of_range, add_huge_loop
from tests.net.calls import SECRET, latent_received, send_frames, session, small_avatar
from tests.net.loopback import until


def hostile(tmp_path: Path, attack: Callable[[Path], None]) -> OwnAvatar:
    """Mallory's avatar: the small synthetic one with `attack` applied to its decoder, zipped by hand."""
    base = small_avatar(7)
    package_dir = write_avatar(base.package, tmp_path / "mallory-package")
    attack(package_dir)
    path = tmp_path / "mallory.cavatar"
    with zipfile.ZipFile(path, "w") as zf:
        for member in sorted(p for p in package_dir.rglob("*") if p.is_file()):
            zf.write(member, member.relative_to(package_dir).as_posix())
    data = path.read_bytes()
    return OwnAvatar(base.package, data, sha256_hex(data))  # what she announces and sends


@pytest.mark.parametrize(("attack", "reason"), [
    (add_huge_loop, "invalid_package:model_op_not_allowed"),  # refused by the static checks
    (lambda d: add_gather_out_of_range(d, small_avatar(7).package.manifest.mesh.num_vertices),
     "invalid_package:trial_run_error"),  # passes them; fails its trial run in the child process
], ids=["loop", "gather"])
def test_a_hostile_avatar_is_refused_and_the_call_goes_on(tmp_path: Path, attack: Callable[[Path], None],
                                                         reason: str) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            bob = session(server, "bob", tmp_path, seed=2)
            carol = session(server, "carol", tmp_path, seed=3)
            mallory = session(server, "mallory", tmp_path, seed=7)
            mallory.own = hostile(tmp_path, attack)
            calls = [bob, carol, mallory]
            for call in calls:
                await call.start()
            try:
                await bob.wait_for_peers(1)  # carol
                for _ in range(1000):  # the refusal (static: at once; trial: a child process run)
                    if bob._exchange.refused:
                        break
                    await asyncio.sleep(0.02)
                assert bob._exchange.refused == {reason: 1}, bob._exchange.refused
                assert bob._exchange.last_refusal.count("\n") == 0 and "mallory" in bob._exchange.last_refusal
                await asyncio.gather(send_frames(carol, 30), send_frames(mallory, 30))
                assert latent_received(bob, "carol") >= 25 and bob.remote_frame("carol") is not None
                assert bob.remote_frame("mallory") is None, "mallory's avatar is never decoded"
                assert "mallory" in bob._remotes, "she stays in the call, unseen"
                # ... and is told so, with the reason key (once per refuser)
                assert await until(lambda: {p.peer: p.our_avatar_refused for p in mallory.stats().peers}
                                   == {"bob": reason, "carol": reason}, 10.0), mallory.stats().peers
                assert all(p.our_avatar_refused == "" for p in bob.stats().peers), "bob's own avatar was fine"
            finally:
                for call in calls:
                    await call.stop()

    asyncio.run(main())


def test_a_decoder_dropped_by_the_renderer_is_counted_with_the_refusals(tmp_path: Path) -> None:
    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET) as server:
            alice = session(server, "alice", tmp_path, seed=1)
            assert alice.stats().avatar_refused == {}
            alice.note_decoder_dropped("bob", "decode_over_budget")
            alice.note_decoder_dropped("carol", "decode_over_budget")
            assert alice.stats().avatar_refused == {"decoder:decode_over_budget": 2}

    asyncio.run(main())
