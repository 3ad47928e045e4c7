"""Faults a three-person call survives, with real processes: a participant killed (SIGKILL) and restarted, the
signaling server killed and restarted.

    .venv/bin/python benchmarks/faults.py --json

`codecav signal` and three participants (alice, bob, carol: `CallSession`s with small synthetic avatars, each
sending 30 frames/s and sampling its remotes at 60 Hz, no rendering) run as separate processes on loopback.
Every participant prints what it sees as JSON lines with `time.monotonic()` (one clock for every process on this
machine): remotes linked and dropped, the first frame from each remote, the signaling connection going and
coming, and at the end the arrival time of every frame it accepted. The script then

1. kills carol with SIGKILL; `drop_detected_s`: until the last of alice and bob has dropped her;
2. starts carol again with the same peer id and avatar cache; `rejoin_first_frame_s`: from that start until the
   last of alice and bob has accepted a frame from her (the avatar comes from their caches);
   `others_longest_freeze_ms`: the longest gap between frames alice accepted from bob and bob from alice while
   carol crashed and came back (30 frames/s: 33 ms is no freeze);
3. kills the signaling server with SIGKILL and starts it again on the same port one second later;
   `signaling_restart_media_gap_ms`: the longest stretch of media that never arrived while the server was gone
   and until everyone rejoined it: the longest run of frames (by sequence number) that any participant sent and
   another never accepted, times the 33 ms frame period (0: the restart cost no frame);
   `signaling_restart_frames_missing`: how many such frames, all pairs; `signaling_restart_longest_frame_gap_ms`:
   the longest gap between arrivals of accepted frames of any pair in that time, and
   `steady_longest_frame_gap_ms` the same in the 2 s before carol was killed (everyone linked: the frame period
   plus scheduling jitter, for comparison); `signaling_reconnect_s`: from the server's restart until the last
   participant is back in the room.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.synthetic.avatar import build_synthetic_avatar  # noqa: E402
from codecav.encoders.synthetic_source import SyntheticLatentSource  # noqa: E402
from codecav.latent import LatentFrame  # noqa: E402
from codecav.net.avatar_exchange import OwnAvatar  # noqa: E402
from codecav.net.call_session import CallSession  # noqa: E402
from codecav.net.call_types import CallConfig  # noqa: E402
from codecav.net.jitter_buffer import JitterConfig  # noqa: E402
from codecav.net.peer import PeerConfig  # noqa: E402
from codecav.net.signaling.join_token import make_join_token  # noqa: E402

ROOM = "faults"
SECRET = "faults-benchmark-secret-0123456789"
NAMES = ("alice", "bob", "carol")
FPS = 30.0


# -- a participant (child process) ------------------------------------------------------------------------------

def _emit(event: str, **fields: Any) -> None:
    print(json.dumps({"t": time.monotonic(), "event": event, **fields}), flush=True)


async def participant(name: str, url: str, cache: Path) -> None:
    """Join, send and sample until stdin closes; report what happens as JSON lines."""
    seed = NAMES.index(name) + 1
    own = OwnAvatar.from_package(build_synthetic_avatar(seed=seed, feature_size=16, mesh_resolution=(8, 12)))
    arrivals: dict[str, list[tuple[float, int]]] = {}
    """Remote -> (monotonic arrival s, sequence number) of every frame accepted from it."""
    seen: set[str] = set()  # peers whose first frame (since they were linked) was reported

    def on_frame(peer: str, frame: LatentFrame, capture_us: float, receive_us: int) -> None:
        if peer not in seen:
            seen.add(peer)
            _emit("first_frame", peer=peer)
        arrivals.setdefault(peer, []).append((time.monotonic(), frame.sequence))

    token = make_join_token(SECRET.encode(), ROOM, name, 600)
    config = CallConfig(room=ROOM, peer_id=name, signal_url=url, token=token,
                        peer=PeerConfig(loopback_only=True), cache_dir=cache / name,
                        jitter=JitterConfig(min_delay_ms=10))
    call = CallSession(config, own, on_frame=on_frame)
    await call.start()
    _emit("joined")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    source = SyntheticLatentSource(own.package.manifest.latent, fps=FPS, seed=seed)
    linked: set[str] = set()
    connected = True
    began = call.clock.now_us()
    tick = 0
    try:
        while not stop.is_set():
            tick += 1
            if tick % 2 == 0:
                seq = tick // 2
                call.send(source.frame_at(seq, call.clock.now_us()))
            call.remote_frames()
            now = {p for p, r in call._remotes.items() if r.jitter is not None and r.link.is_open}
            for peer in sorted(now - linked):
                _emit("linked", peer=peer)
            for peer in sorted(linked - now):
                _emit("dropped", peer=peer)
                seen.discard(peer)  # a rejoined peer's first frame is reported anew
            linked = now
            if call.signaling_connected != connected:
                connected = call.signaling_connected
                _emit("signaling", connected=connected)
            due = began + int(tick * 1e6 / (2 * FPS))
            await asyncio.sleep(max(0.0, (due - call.clock.now_us()) / 1e6))
    finally:
        _emit("arrivals", arrivals=arrivals)
        await call.stop()


# -- the scenario (parent) ------------------------------------------------------------------------------------

class Events:
    """The JSON lines of every child, read on threads, with a wait for a condition."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self._lock = threading.Condition()

    def follow(self, name: str, stream: IO[str]) -> None:
        """Read `stream` (one child's stdout) on a thread."""
        def read() -> None:
            for line in stream:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                record["who"] = name
                with self._lock:
                    self.lines.append(record)
                    self._lock.notify_all()
        threading.Thread(target=read, daemon=True).start()

    def wait(self, what: str, match: Any, timeout_s: float = 60.0) -> dict[str, Any]:
        """The first record (in arrival order) for which `match(record)` holds; SystemExit naming `what`."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                for record in self.lines:
                    if match(record):
                        return record
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"faults benchmark: {what} did not happen within {timeout_s:g} s")
                self._lock.wait(left)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _longest_gap_ms(times: list[float], lo: float, hi: float, *, inside: bool = False) -> float:
    """Longest interval between consecutive `times` that overlaps [lo, hi] (ms); with `inside`, only intervals
    wholly within it."""
    arr = np.asarray(sorted(times))
    if arr.size < 2:
        return float("inf")
    starts, ends = arr[:-1], arr[1:]
    keep = (starts >= lo) & (ends <= hi) if inside else (ends >= lo) & (starts <= hi)
    return float(np.max(ends[keep] - starts[keep]) * 1000) if keep.any() else 0.0


def _longest_missing_run(accepted: list[tuple[float, int]], lo: float, hi: float) -> tuple[int, int]:
    """Frames a sender sent and this receiver never accepted, between the last accepted before `lo` and the first
    accepted after `hi` (arrival times, s): (longest run of consecutive missing sequence numbers, how many)."""
    before = [seq for t, seq in accepted if t < lo]
    after = [seq for t, seq in accepted if t > hi]
    first = max(before) if before else min(seq for _, seq in accepted)
    last = min(after) if after else max(seq for _, seq in accepted)
    got = {seq for _, seq in accepted if first <= seq <= last}
    longest = run = missing = 0
    for seq in range(first, last + 1):
        run = 0 if seq in got else run + 1
        missing += seq not in got
        longest = max(longest, run)
    return longest, missing


def run(tmp: Path) -> dict[str, Any]:
    """The scenario; the figures."""
    port = _free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    secret_file = tmp / "secret"
    secret_file.write_text(SECRET)
    events = Events()
    server_cmd = [sys.executable, "-m", "codecav", "signal", "--port", str(port), "--secret-file", str(secret_file)]

    def start_server() -> subprocess.Popen[str]:
        proc = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return proc
            time.sleep(0.02)
        raise SystemExit("faults benchmark: the signaling server did not start")

    def start(name: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, __file__, "--role", name, "--url", url, "--cache", str(tmp)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(tmp / f"{name}.log").open("a"),
                                text=True)
        assert proc.stdout is not None
        events.follow(name, proc.stdout)
        return proc

    server = start_server()
    procs = {name: start(name) for name in NAMES}
    try:
        for name in NAMES:
            for other in NAMES:
                if other != name:
                    events.wait(f"{name} linked to {other}", lambda r, n=name, o=other: r["who"] == n
                                and r["event"] == "linked" and r["peer"] == o, 120)
        time.sleep(2.0)
        killed_at = time.monotonic()
        procs["carol"].kill()
        procs["carol"].wait()
        drops = [events.wait(f"{o} dropping carol", lambda r, o=o: r["who"] == o and r["event"] == "dropped"
                             and r["peer"] == "carol" and r["t"] >= killed_at, 30) for o in ("alice", "bob")]
        drop_detected_s = max(r["t"] for r in drops) - killed_at
        time.sleep(1.0)
        restarted_at = time.monotonic()
        procs["carol"] = start("carol")
        firsts = [events.wait(f"{o} seeing the restarted carol", lambda r, o=o: r["who"] == o
                              and r["event"] == "first_frame" and r["peer"] == "carol" and r["t"] >= restarted_at,
                              60) for o in ("alice", "bob")]
        rejoined_at = max(r["t"] for r in firsts)
        rejoin_first_frame_s = rejoined_at - restarted_at
        time.sleep(2.0)
        server_killed_at = time.monotonic()
        server.kill()
        server.wait()
        time.sleep(1.0)
        server_restarted_at = time.monotonic()
        server = start_server()
        backs = [events.wait(f"{n} rejoining the signaling server", lambda r, n=n: r["who"] == n
                             and r["event"] == "signaling" and r["connected"] and r["t"] >= server_restarted_at, 60)
                 for n in NAMES]
        reconnected_at = max(r["t"] for r in backs)
        time.sleep(1.0)
    finally:
        for proc in procs.values():
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.close()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    accepted = {r["who"]: {peer: [(t, seq) for t, seq in pairs] for peer, pairs in r["arrivals"].items()}
                for r in events.lines if r["event"] == "arrivals"}
    arrivals = {who: {peer: [t for t, _ in pairs] for peer, pairs in per_peer.items()}
                for who, per_peer in accepted.items()}
    freeze = max(_longest_gap_ms(arrivals["alice"].get("bob", []), killed_at, rejoined_at),
                 _longest_gap_ms(arrivals["bob"].get("alice", []), killed_at, rejoined_at))
    longest_gap = max(_longest_gap_ms(times, server_killed_at, reconnected_at)
                      for who, per_peer in arrivals.items() for times in per_peer.values())
    # The same run's steady state (the 2 s before carol is killed, everyone linked): frames 33 ms apart plus jitter.
    steady_gap = max(_longest_gap_ms(times, killed_at - 2.0, killed_at, inside=True)
                     for who, per_peer in arrivals.items() for times in per_peer.values())
    missing = [_longest_missing_run(pairs, server_killed_at, reconnected_at)
               for per_peer in accepted.values() for pairs in per_peer.values() if pairs]
    return {
        "drop_detected_s": round(drop_detected_s, 3),
        "rejoin_first_frame_s": round(rejoin_first_frame_s, 3),
        "others_longest_freeze_ms": round(freeze, 1),
        "signaling_restart_media_gap_ms": round(max(run for run, _ in missing) * 1000 / FPS, 1),
        "signaling_restart_frames_missing": sum(count for _, count in missing),
        "signaling_restart_longest_frame_gap_ms": round(longest_gap, 1),
        "steady_longest_frame_gap_ms": round(steady_gap, 1),
        "signaling_reconnect_s": round(reconnected_at - server_restarted_at, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--role", choices=NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        asyncio.run(participant(args.role, args.url, Path(args.cache)))
        return
    with tempfile.TemporaryDirectory(prefix="codecav-faults-") as tmp:
        result = run(Path(tmp))
    print(json.dumps(result, indent=2) if args.json else result)


if __name__ == "__main__":
    main()
