"""A conversation, measured: the two-process call of `codecav demo` (shipped samples driven by their recorded clips
with voice, loopback, signaling server), clean and under impairment, with aiortc's own audio path as the baseline,
all in one run.

    .venv/bin/python benchmarks/conversation.py --json [--seconds S]

Four calls of S seconds each (default 20), one after the other:
1. clean, empty avatar caches: `time_to_first_frame_uncached_s` (each sample avatar, 2.9 MB, is fetched);
2. clean, the caches of call 1: the clean figures, `time_to_first_frame_s` and `voice_delay_drift_ms`;
3. impaired (the user-space impairment, codecav.net.impairment: 5 % loss and 30 ms jitter on every datagram either
   participant sends), caches of call 1: the `_impaired` figures and `concealed_ms_per_s_impaired`;
4. clean, caches of call 1, received voice through aiortc's jitter buffer and decoder (CallConfig.voice_path
   'aiortc'): `baseline_mouth_to_ear_ms_p50`.
Latency figures come from each demo's report.json: taken from 3 s after each receiver began rendering (a quarter
of a shorter call) to its end. Mouth-to-ear matches played voice to sent voice in 100 ms chunks through the
clock-sync offset, to the hand-off of samples to the (virtual) output. `voice_delay_drift_ms` is the median
mouth-to-ear over the call's last minute minus its first (a quarter each of a call shorter than 4 min), averaged
over both directions. `concealed_ms_per_s_impaired` is loss concealment (PLC, not DTX comfort noise) per second
of voice played. Details of each call (per-stage times, join steps, voice counters) go to stderr; stdout holds
one JSON object with exactly the keys of issue 12.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.runtime.call_demo import run_call_demo  # noqa: E402

PEER_COMMAND = (sys.executable, "-m", "codecav.cli.demo_peer")
IMPAIRMENT = (0.05, 30.0)
"""Loss share and jitter (ms) of the impaired call."""


def _call(out: Path, seconds: float, *, cache_root: Path, impairment: tuple[float, float] | None = None,
          voice_path: str = "codecav") -> dict[str, Any]:
    """One demo call; its report.json."""
    for line in run_call_demo(out, seconds, warmup_s=min(3.0, seconds / 4), peer_command=PEER_COMMAND,
                              impairment=impairment, voice_path=voice_path, cache_root=cache_root):
        print(f"  {out.name}: {line}", file=sys.stderr, flush=True)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def _ms(report: dict[str, Any], key: str, quantile: str) -> float | None:
    value = report.get(key, {}).get(quantile)
    return None if value is None else round(float(value), 1)


def _drift(report: dict[str, Any]) -> float | None:
    drifts = list(report["extra"].get("voice_delay_drift_ms", {}).values())
    return round(sum(drifts) / len(drifts), 1) if drifts else None


def measure(seconds: float, work: Path) -> dict[str, Any]:
    """Run the four calls under `work`; the figures of issue 12."""
    caches = work / "caches"
    uncached = _call(work / "uncached", seconds, cache_root=caches)
    clean = _call(work / "clean", seconds, cache_root=caches)
    impaired = _call(work / "impaired", seconds, cache_root=caches, impairment=IMPAIRMENT)
    baseline = _call(work / "baseline", seconds, cache_root=caches, voice_path="aiortc")
    for name, report in (("clean", clean), ("impaired", impaired), ("baseline", baseline)):
        details = {k: report.get(k) for k in ("stages", "unaccounted_ms", "join", "peers")}
        details["extra"] = {k: report["extra"].get(k) for k in ("voice", "voice_delay_drift_ms", "rendered_fps",
                                                                 "frames_lost", "voice_match_correlation")}
        print(f"{name}: {json.dumps(details)}", file=sys.stderr, flush=True)
    return {
        "mouth_to_ear_ms_p50": _ms(clean, "mouth_to_ear_ms", "p50"),
        "mouth_to_ear_ms_p99": _ms(clean, "mouth_to_ear_ms", "p99"),
        "capture_to_photon_ms_p50": _ms(clean, "capture_to_photon_ms", "p50"),
        "capture_to_photon_ms_p99": _ms(clean, "capture_to_photon_ms", "p99"),
        "mouth_to_ear_ms_p50_impaired": _ms(impaired, "mouth_to_ear_ms", "p50"),
        "mouth_to_ear_ms_p99_impaired": _ms(impaired, "mouth_to_ear_ms", "p99"),
        "capture_to_photon_ms_p50_impaired": _ms(impaired, "capture_to_photon_ms", "p50"),
        "capture_to_photon_ms_p99_impaired": _ms(impaired, "capture_to_photon_ms", "p99"),
        "concealed_ms_per_s_impaired": impaired["extra"]["voice"]["loss_concealed_ms_per_s"],
        "voice_delay_drift_ms": _drift(clean),
        "time_to_first_frame_s": clean.get("time_to_first_frame_s"),
        "time_to_first_frame_uncached_s": uncached.get("time_to_first_frame_s"),
        "baseline_mouth_to_ear_ms_p50": _ms(baseline, "mouth_to_ear_ms", "p50"),
    }


def main() -> int:
    """Parse arguments, run the calls, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (the default output)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each of the four calls")
    parser.add_argument("--keep", metavar="DIR", help="keep the calls' outputs (reports, traces, videos) here")
    args = parser.parse_args()
    if args.keep:
        figures = measure(args.seconds, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="codecav-conversation-") as tmp:
            figures = measure(args.seconds, Path(tmp))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
