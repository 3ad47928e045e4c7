"""A long call: does anything grow or drift? The two-process call of `codecav demo` (shipped samples, recorded clips
with voice, loopback) for S seconds, with each participant's memory sampled from outside.

    .venv/bin/python benchmarks/soak.py --json --seconds 600

Prints exactly:
- `rss_growth_mb`: per participant, its resident set (VmRSS, sampled every 2 s from /proc by this script) over
  the call's last minute minus its first minute, medians (a quarter of the call each when it is shorter than
  4 minutes; the first window starts when both render);
- `capture_to_photon_ms_p50_first_minute`, `capture_to_photon_ms_p50_last_minute`: both directions' displayed
  frames in those windows;
- `frames_lost`: latent frames never received in time, both participants, the whole call;
- `errors`: lines of the participants' logs that report a failure (a traceback, or a line saying error, failed,
  refused or exception); each is echoed to stderr.

On stderr, a table per minute: capture-to-photon p50, frames displayed, the p50 of each participant's own
`encode` stage and of `hold`. Encoding is fixed work (the same models on the same clip sizes), so its time is this
run's measure of the machine's speed: on this shared 2-core machine a fixed workload's time swings by +-25 % within
minutes, and capture-to-photon, all CPU work and waiting for a render tick, follows it. `hold` growing while
`encode` does not would be the call itself drifting (a buffer filling).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.runtime.call_demo import run_call_demo  # noqa: E402
from codecav.runtime.report import FramePresented, first_presents  # noqa: E402

PEER_COMMAND = (sys.executable, "-m", "codecav.cli.demo_peer")
SAMPLE_EVERY_S = 2.0
FAILURE = re.compile(r"traceback|\berror\b|\bfailed\b|\brefused\b|exception", re.IGNORECASE)


def _children() -> dict[int, str]:
    """This process's direct children: pid -> command line."""
    me = os.getpid()
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == me:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MemorySampler:
    """Samples the RSS of every participant process (children running demo_peer) on a thread."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float]]] = {}
        """Participant name -> (monotonic s, RSS MB)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            for pid, cmdline in _children().items():
                found = re.search(r"/peers/(\w+)\.json", cmdline)
                rss = _rss_mb(pid)
                if "demo_peer" in cmdline and found and rss is not None:
                    self.samples.setdefault(found.group(1), []).append((time.monotonic(), rss))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _window_median(points: list[tuple[float, float]], lo: float, hi: float) -> float | None:
    values = [v for t, v in points if lo <= t <= hi]
    return float(np.median(values)) if values else None


def soak(out: Path, seconds: float) -> dict[str, Any]:
    """Run the call; the figures."""
    with MemorySampler() as memory:
        for line in run_call_demo(out, seconds, warmup_s=0.0, peer_command=PEER_COMMAND,
                                  cache_root=out / "caches"):
            print(f"  soak: {line}", file=sys.stderr, flush=True)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    records = [json.loads(p.read_text()) for p in sorted((out / "peers").glob("*/records.json"))]
    begin_ns = max(min((f["present_ns"] for f in r["presented"]), default=r["start_ns"]) for r in records)
    end_ns = min(r["end_ns"] for r in records)
    window_ns = int(min(60.0, (end_ns - begin_ns) / 4e9) * 1e9)
    first: list[float] = []
    last: list[float] = []
    for r in records:
        for f in first_presents([FramePresented(**p) for p in r["presented"]]):
            c2p = (f.present_ns - f.capture_ns) / 1e6
            if begin_ns <= f.present_ns <= begin_ns + window_ns:
                first.append(c2p)
            elif end_ns - window_ns <= f.present_ns <= end_ns:
                last.append(c2p)
    # The monotonic clock of this process is the one the participants stamp with (one machine).
    lo_s, hi_s = begin_ns / 1e9, end_ns / 1e9
    growth = {}
    for name, points in sorted(memory.samples.items()):
        head = _window_median(points, lo_s, lo_s + window_ns / 1e9)
        tail = _window_median(points, hi_s - window_ns / 1e9, hi_s)
        growth[name] = None if head is None or tail is None else round(tail - head, 1)
    _print_minutes(out, records, begin_ns, end_ns)
    errors = 0
    for log in sorted((out / "peers").glob("*/stderr.log")):
        for line in log.read_text(errors="replace").splitlines():
            if FAILURE.search(line):
                errors += 1
                print(f"  soak: {log.parent.name}: {line}", file=sys.stderr)
    return {
        "rss_growth_mb": growth,
        "capture_to_photon_ms_p50_first_minute": round(float(np.median(first)), 1) if first else None,
        "capture_to_photon_ms_p50_last_minute": round(float(np.median(last)), 1) if last else None,
        "frames_lost": int(report["extra"].get("frames_lost", 0)),
        "errors": errors,
    }


def _print_minutes(out: Path, records: list[dict[str, Any]], begin_ns: int, end_ns: int) -> None:
    """The per-minute table of the docstring, on stderr."""
    minutes = max(1, int((end_ns - begin_ns) // 60e9))
    c2p: list[list[float]] = [[] for _ in range(minutes)]
    stages: dict[str, list[list[float]]] = {name: [[] for _ in range(minutes)] for name in ("encode", "hold")}

    def minute(t_ns: int) -> int | None:
        index = int((t_ns - begin_ns) // 60e9)
        return index if 0 <= index < minutes else None

    for r in records:
        for f in first_presents([FramePresented(**p) for p in r["presented"]]):
            if (m := minute(f.present_ns)) is not None:
                c2p[m].append((f.present_ns - f.capture_ns) / 1e6)
    for path in sorted((out / "peers").glob("*/spans.json")):
        for span in json.loads(path.read_text()):
            if span["name"] in stages and (m := minute(span["start_ns"])) is not None:
                stages[span["name"]][m].append((span["end_ns"] - span["start_ns"]) / 1e6)

    def p50(values: list[float]) -> str:
        return f"{np.median(values):.1f}" if values else "-"

    print("  soak: minute  c2p_p50_ms  frames  encode_p50_ms  hold_p50_ms", file=sys.stderr)
    for m in range(minutes):
        print(f"  soak: {m + 1:6d}  {p50(c2p[m]):>10}  {len(c2p[m]):6d}  {p50(stages['encode'][m]):>13}  "
              f"{p50(stages['hold'][m]):>11}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the call (default 600)")
    parser.add_argument("--keep", type=Path, help="keep the call's output (videos, report, logs) here")
    args = parser.parse_args()
    if args.keep is not None:
        result = soak(args.keep, args.seconds)
    else:
        with tempfile.TemporaryDirectory(prefix="codecav-soak-") as tmp:
            result = soak(Path(tmp), args.seconds)
    print(json.dumps(result, indent=2) if args.json else result)


if __name__ == "__main__":
    main()
