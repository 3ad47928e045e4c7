"""One client holding many participants with voice through a private Janus SFU.

    .venv/bin/python benchmarks/call_sfu.py --json --participants 8 --seconds 10     (root: network namespace)

A network namespace (Janus's ICE ignores loopback) holds Janus and every process. The measured *listener* is
one process with one SfuCallSession subscribed to everyone; the other participants ("speakers") run in
--workers processes, each publishing 30 latent frames/s and a 48 kHz voice (Opus) and subscribing only to the
listener (they must hear its avatar requests and pings). Reported for the listener, over all speakers:
latent transit (receive - capture, clock-synced) p50/p99, frames received of sent, voice frames received of
expected (50/s per speaker), and voice lag: the listener plays every voice, mixed, 10 ms at a time through
codecav's voice receive path, and the lag is each played chunk's delay behind its capture (the playout buffer's
delay on this clock: network, jitter allowance and any backlog; "falls behind" shows as growth between the
first and last seconds). Before issue 12 it was how much later aiortc's decoded voice frames reached codecav
than their packets. --gc-freeze runs the listener with gc.freeze() after joining and a higher gen-0
threshold (Python's collector was measured causing 20-50 ms stalls with many connections in one process).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.synthetic.avatar import build_synthetic_avatar  # noqa: E402
from codecav.net.avatar_exchange import OwnAvatar  # noqa: E402
from codecav.net.call_session import monotonic_us  # noqa: E402
from codecav.net.call_types import CallConfig  # noqa: E402
from codecav.net.jitter_buffer import JitterConfig  # noqa: E402
from codecav.net.peer import PeerConfig  # noqa: E402
from codecav.net.sfu.janus_server import JanusConfig, JanusError, JanusNamespace, JanusProcess, janus_binary  # noqa: E402
from codecav.net.sfu.session import SfuCallSession  # noqa: E402
from codecav.net.synthetic_sender import send_synthetic_frames  # noqa: E402
from codecav.net.voice import SAMPLE_RATE, VoiceTrack, wav_feed  # noqa: E402

ROOM = "bench-sfu"
FPS = 30.0


VOICE_CHUNK_US = 10_000
"""The listener plays voice in 10 ms chunks, as a sound device would."""


def _config(url: str, peer: str, cache: Path) -> CallConfig:
    return CallConfig(room=ROOM, peer_id=peer, signal_url=url, token="",
                      peer=PeerConfig(host_addresses=("127.0.0.2",), connect_timeout_s=120),
                      cache_dir=cache / peer, jitter=JitterConfig(min_delay_ms=10))


def _avatar(seed: int) -> OwnAvatar:
    return OwnAvatar.from_package(build_synthetic_avatar(seed=seed, feature_size=16, mesh_resolution=(8, 12)))


async def run_speakers(args: argparse.Namespace) -> dict[str, Any]:
    """Several speakers in this process: join, wait for the listener, talk, leave."""
    calls = []
    for name in args.names.split(","):
        seed = int(name.removeprefix("s"))
        tone = (0.2 * np.sin(2 * np.pi * (200 + 40 * seed) * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
        calls.append(SfuCallSession(_config(args.url, name, Path(args.cache)), _avatar(seed),
                                    voice_track=VoiceTrack(wav_feed(tone)), subscribe_to={"listener"}))
    try:
        for call in calls:
            await call.start()
        for call in calls:
            await call.wait_for_peers(1, timeout_s=180)
        Path(args.ready).joinpath(args.names).touch()
        while not Path(args.ready).joinpath("go").exists():
            await asyncio.sleep(0.05)
        await asyncio.gather(*(send_synthetic_frames(call, int(args.seconds * FPS), FPS, seed=i)
                               for i, call in enumerate(calls)))
        await asyncio.sleep(1.0)
        return {"sent": [c.stats().frames_sent for c in calls]}
    finally:
        for call in calls:
            await call.stop()


async def run_listener(args: argparse.Namespace) -> dict[str, Any]:
    """Subscribe to every speaker; measure transit, delivery and voice lag; sample playout at 90 Hz."""
    speakers = args.participants - 1
    call = SfuCallSession(_config(args.url, "listener", Path(args.cache)), _avatar(999), receive_voice=True)
    await call.start()
    try:
        await call.wait_for_peers(speakers, timeout_s=240)
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        while len(list(Path(args.ready).glob("s*"))) < args.workers:
            await asyncio.sleep(0.05)
        call.frame_timings()  # drop the joining phase
        voice_before = 0
        for remote in call._remotes.values():  # benchmark introspection: voice from now on
            if remote.voice is not None:
                remote.voice.lags_us.clear()
                voice_before += remote.voice.frames
        began = monotonic_us()
        Path(args.ready).joinpath("go").touch()
        remotes = list(call._remotes.values())  # kept: speakers leave at the end, their voice stats stay here
        heard_us = began  # the listener's voice output: every remote voice mixed, pulled 10 ms at a time
        while monotonic_us() - began < (args.seconds + 1.0) * 1e6:
            call.remote_frames()  # display at 90 Hz: steers the jitter buffers
            while heard_us + VOICE_CHUNK_US <= monotonic_us():
                call.voice_samples(heard_us, VOICE_CHUNK_US * SAMPLE_RATE // 1_000_000)
                heard_us += VOICE_CHUNK_US
            await asyncio.sleep(1 / 90)
        departed_voices = [r for r in remotes if r.peer_id not in call._remotes]
        stats = call.stats()
        everyone = (*stats.peers, *stats.departed)  # a speaker that already left is in departed
        timings = call.frame_timings()
        transit = [(t.receive_us - t.capture_local_us) / 1000 for t in timings]
        lags: list[float] = []
        first_s: list[float] = []
        last_s: list[float] = []
        for remote in list(call._remotes.values()) + departed_voices:
            voice = remote.voice
            if voice is None:
                continue
            values = [v / 1000 for v in voice.lags_us]
            lags += values
            first_s += values[:50]
            last_s += values[-50:]
        return {
            "speakers": speakers, "seconds": args.seconds, "gc_freeze": args.gc_freeze,
            "latent_transit_ms_p50": round(float(np.percentile(transit, 50)), 2) if transit else None,
            "latent_transit_ms_p99": round(float(np.percentile(transit, 99)), 2) if transit else None,
            "frames_received": sum(p.frames_accepted for p in everyone),
            "frames_expected": int(speakers * args.seconds * FPS),
            "longest_freeze_ms_max": round(max(p.longest_freeze_ms for p in everyone), 1),
            "voice_frames_received": sum(p.audio_frames_received for p in everyone) - voice_before,
            "voice_frames_expected": int(speakers * (args.seconds + 1.0) * 50),
            "voice_lag_ms_p50": round(float(np.percentile(lags, 50)), 1) if lags else None,
            "voice_lag_ms_p99": round(float(np.percentile(lags, 99)), 1) if lags else None,
            "voice_lag_ms_first_second_mean": round(float(np.mean(first_s)), 1) if first_s else None,
            "voice_lag_ms_last_second_mean": round(float(np.mean(last_s)), 1) if last_s else None,
        }
    finally:
        await call.stop()


def run_inside(args: argparse.Namespace) -> dict[str, Any]:
    """In the namespace: Janus, speaker workers and the listener as separate processes."""
    with tempfile.TemporaryDirectory(prefix="codecav-bench-sfu-") as tmp:
        janus = JanusProcess(JanusConfig(Path(tmp) / "janus"))
        janus.start()
        ready = Path(tmp) / "ready"
        ready.mkdir()
        speakers = [f"s{i}" for i in range(1, args.participants)]
        groups = [speakers[i :: args.workers] for i in range(args.workers)]
        base = [sys.executable, __file__, "--url", janus.config.url, "--cache", str(Path(tmp) / "cache"),
                "--ready", str(ready), "--seconds", str(args.seconds), "--participants", str(args.participants),
                "--workers", str(args.workers)]
        procs = []
        try:
            result_path = Path(tmp) / "listener.json"
            listener = subprocess.Popen([*base, "--role", "listener", "--result", str(result_path)]
                                        + (["--gc-freeze"] if args.gc_freeze else []))
            time.sleep(1.0)
            for group in groups:
                procs.append(subprocess.Popen([*base, "--role", "speakers", "--names", ",".join(group),
                                               "--result", os.devnull]))
            if listener.wait(timeout=args.seconds + 400) != 0:
                raise SystemExit("listener failed")
            for proc in procs:
                proc.wait(timeout=60)
            result: dict[str, Any] = json.loads(result_path.read_text())
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            janus.stop()
    result["workers"] = args.workers
    result["load_average_1min"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--participants", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="processes the speakers are spread over")
    parser.add_argument("--gc-freeze", action="store_true")
    parser.add_argument("--role", choices=["inside", "listener", "speakers"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--names", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role in ("listener", "speakers"):
        runner = run_listener if args.role == "listener" else run_speakers
        result = asyncio.run(runner(args))
        if args.result != os.devnull:
            Path(args.result).write_text(json.dumps(result))
        return
    if args.role == "inside":
        print(json.dumps(run_inside(args)))
        return
    if janus_binary() is None:
        raise SystemExit("janus is not installed; apt-get install janus")
    ns = JanusNamespace()
    try:
        ns.create()
    except JanusError as exc:
        raise SystemExit(str(exc)) from None
    try:
        cmd = [*ns.prefix, sys.executable, __file__, "--role", "inside", *sys.argv[1:]]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        ns.delete()
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
