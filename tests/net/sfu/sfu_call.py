"""A call through a private Janus, run inside a network namespace (see codecav.net.sfu.janus_server): starts Janus,
joins N SfuCallSessions, sends frames from each (and voice from the first), prints JSON stats.

    ip netns exec NS python -m tests.net.sfu.sfu_call --peers 3 --seconds 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from codecav.clock import MONOTONIC
from codecav.net.call_types import CallConfig
from codecav.net.errors import NetError
from codecav.net.jitter_buffer import JitterConfig
from codecav.net.peer import PeerConfig
from codecav.net.sfu.janus_server import JanusConfig, JanusProcess
from codecav.net.sfu.session import SfuCallSession
from codecav.net.voice import SAMPLE_RATE, VoiceTrack, wav_feed
from tests.net.calls import latent_received, send_frames, small_avatar
from tests.net.loopback import until


def _config(url: str, peer: str, cache: Path, pin: str) -> CallConfig:
    return CallConfig(room="sfu-room", peer_id=peer, signal_url=url, token="",
                      peer=PeerConfig(host_addresses=("127.0.0.2",), connect_timeout_s=30),
                      cache_dir=cache / peer, jitter=JitterConfig(min_delay_ms=10), sfu_pin=pin)


async def intrude(url: str, cache: Path, pin: str) -> str:
    """Try to join the room with `pin` (the wrong one, or none); the one-line refusal, or '' if it got in."""
    intruder = SfuCallSession(_config(url, "intruder", cache, pin), small_avatar(30))
    try:
        await intruder.start()
    except NetError as exc:
        return str(exc)
    finally:
        await intruder.stop()
    return ""


async def run(url: str, peers: int, seconds: float, cache: Path, voice: bool, pin: str = "") -> dict[str, Any]:
    """Join `peers` sessions (with the room's `pin`), send for `seconds`, report what each saw; with a `pin`,
    also whether a wrong PIN and no PIN get in."""
    calls = []
    for i in range(peers):
        config = _config(url, f"p{i}", cache, pin)
        track = None
        if voice and i == 0:
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
            track = VoiceTrack(wav_feed(tone))
        calls.append(SfuCallSession(config, small_avatar(20 + i), voice_track=track, receive_voice=voice))
    began = MONOTONIC.now_s()
    for call in calls:
        await call.start()
    try:
        for call in calls:
            await call.wait_for_peers(peers - 1, timeout_s=60)
        joined_s = MONOTONIC.now_s() - began
        sent = int(seconds * 30)
        await asyncio.gather(*(send_frames(call, sent, seed=i) for i, call in enumerate(calls)))
        # Until every frame reached every subscriber (the report shows any that never did).
        await until(lambda: all(latent_received(call, other.config.peer_id) == sent
                                for call in calls for other in calls if other is not call), 10)
        report: dict[str, Any] = {"joined_s": round(joined_s, 2), "peers": {}}
        if pin:
            report["refused"] = {"wrong pin": await intrude(url, cache, "0" * 32),
                                 "no pin": await intrude(url, cache, "")}
        for call in calls:
            seen = {}
            for peer in call.stats().peers:
                seen[peer.peer] = {"frames": peer.frames_accepted, "lost": peer.frames_lost,
                                   "voice_frames": peer.audio_frames_received, "avatar": peer.avatar,
                                   "playout_delay_ms": round(peer.playout_delay_ms, 1),
                                   "clock_offset_us": peer.clock_offset_us,
                                   "join_steps": [name for name, at in asdict(peer.join).items()
                                                  if name.endswith("_us") and at is not None]}
            timings = call.frame_timings()
            transit = [t.receive_us - t.capture_local_us for t in timings]
            report["peers"][call.config.peer_id] = {
                "seen": seen, "frames_shown": len(call.remote_frames()),
                "avatar_feeds_open": list(call.avatar_feeds_open),
                "transit_ms_p50": round(float(np.percentile(transit, 50)) / 1000, 2) if transit else None,
                "transit_ms_p99": round(float(np.percentile(transit, 99)) / 1000, 2) if transit else None}
        return report
    finally:
        for call in calls:
            await call.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--voice", action="store_true")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--pin", default="", help="lock the room with this PIN (and try a wrong one and none)")
    args = parser.parse_args()
    # What the sessions warn about (a peer dropped, a feed refused) reaches the test's failure message.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(relativeCreated)d %(name)s: %(message)s")
    logging.getLogger("codecav").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="codecav-janus-") as tmp:
        janus = JanusProcess(JanusConfig(Path(tmp) / "janus", http_port=args.port))
        started = MONOTONIC.now_s()
        janus.start()
        up_s = MONOTONIC.now_s() - started
        try:
            report = asyncio.run(run(janus.config.url, args.peers, args.seconds, Path(tmp) / "cache", args.voice,
                                     args.pin))
        finally:
            janus.stop()
    report["janus_up_s"] = round(up_s, 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
