"""Profile the client pipeline: three senders -> wire format -> decode -> render, with every stage timed.

Run: python examples/latency_profile.py    (writes out/examples/profile/trace.json, report.json, report.html)

Open trace.json in https://ui.perfetto.dev. The same as `codecav profile local --out out/examples/profile`.
CODECAV_EXAMPLE_SMOKE=1 runs briefly at a small size; CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from codecav.runtime.profile_command import ProfileRequest, run_profile


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples")) / "profile"
    request = ProfileRequest("local", out_dir, seconds=1.0 if smoke else 10.0, avatars=3,
                             width=160 if smoke else 640, height=120 if smoke else 480)
    for line in run_profile(request):
        print(line)
    report = json.loads((out_dir / "report.json").read_text())
    for stage, p in report["stages"].items():
        print(f"  {stage:14s} p50 {p['p50']:7.2f} ms   p99 {p['p99']:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
