"""A room bigger than a mesh: 8 participants meet through a private Janus SFU (VideoRoom) on this machine, each
sending synthetic avatar frames and a voice (a tone of its own pitch); everyone renders nobody here, but receives,
verifies and plays out everyone else, and the script prints what each saw and heard of every other.

Run (root: Janus and the participants share a network namespace, since Janus's ICE ignores loopback):
    python examples/sfu_room.py            (8 participants, 5 s; needs `apt-get install janus`)

CODECAV_EXAMPLE_SMOKE=1 uses 3 participants for 2 s. Without janus or without permission for network
namespaces it says why in one line and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_session import monotonic_us
from codecav.net.call_types import CallConfig
from codecav.net.peer import PeerConfig
from codecav.net.sfu.janus_server import JanusConfig, JanusError, JanusNamespace, JanusProcess, janus_binary
from codecav.net.sfu.session import SfuCallSession
from codecav.net.synthetic_sender import send_synthetic_frames
from codecav.net.voice import SAMPLE_RATE, VoiceTrack, wav_feed

INSIDE = "CODECAV_SFU_EXAMPLE_INSIDE"


async def room(url: str, count: int, seconds: float, cache: Path) -> None:
    """Join `count` participants, talk for `seconds`, print what everyone saw."""
    calls = []
    for i in range(count):
        avatar = OwnAvatar.from_package(build_synthetic_avatar(seed=i, feature_size=16, mesh_resolution=(8, 12)))
        tone = 0.3 * np.sin(2 * np.pi * (180 + 40 * i) * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
        voice = VoiceTrack(wav_feed(tone.astype(np.float32)))
        config = CallConfig(room="example", peer_id=f"person{i}", signal_url=url, token="",
                            peer=PeerConfig(host_addresses=("127.0.0.2",), connect_timeout_s=60),
                            cache_dir=cache / f"person{i}")
        calls.append(SfuCallSession(config, avatar, voice_track=voice, receive_voice=True))
    try:
        for call in calls:
            await call.start()
        for call in calls:
            await call.wait_for_peers(count - 1, timeout_s=120)
        print(f"{count} participants joined through Janus; talking for {seconds:g} s", flush=True)
        await asyncio.gather(*(send_synthetic_frames(call, int(seconds * 30), seed=i) for i, call in enumerate(calls)))
        sent = int(seconds * 30)
        ended = monotonic_us()
        # Frames still in flight (a loaded machine runs every participant and Janus on its cores) get 5 s more.
        while monotonic_us() - ended < 5_000_000 and any(
                p.frames_accepted + p.frames_lost < sent for call in calls for p in call.stats().peers):
            await asyncio.sleep(0.1)
        print(f"  (the last frames arrived {(monotonic_us() - ended) / 1e6:.1f} s after the last was sent)")
        for call in calls:
            peers = call.stats().peers
            frames = [p.frames_accepted for p in peers]
            heard = [p.audio_frames_received for p in peers]
            print(f"  {call.config.peer_id}: sees {len(peers)} others, frames received per peer "
                  f"{min(frames)}..{max(frames)} of {int(seconds * 30)}, voice frames per peer "
                  f"{min(heard)}..{max(heard)} (about {int(seconds * 50)} sent)")
    finally:
        for call in calls:
            await call.stop()


def inside(count: int, seconds: float) -> int:
    """In the namespace: start Janus, run the room."""
    with tempfile.TemporaryDirectory(prefix="codecav-sfu-example-") as tmp:
        janus = JanusProcess(JanusConfig(Path(tmp) / "janus"))
        info = janus.start()
        print(f"Janus {info.get('version_string')} up at {janus.config.url}", flush=True)
        try:
            asyncio.run(room(janus.config.url, count, seconds, Path(tmp) / "cache"))
        finally:
            janus.stop()
    return 0


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    count, seconds = (3, 2.0) if smoke else (8, 5.0)
    if os.environ.get(INSIDE) == "1":
        return inside(count, seconds)
    if janus_binary() is None:
        print("sfu_room: janus is not installed; apt-get install janus")
        return 0
    ns = JanusNamespace()
    try:
        ns.create()
    except JanusError as exc:
        print(f"sfu_room: {exc}")
        return 0
    try:
        done = subprocess.run([*ns.prefix, sys.executable, __file__], env={**os.environ, INSIDE: "1"})
        return done.returncode
    finally:
        ns.delete()


if __name__ == "__main__":
    raise SystemExit(main())
