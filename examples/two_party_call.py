"""A two-party call on this machine: two processes, each a sample avatar driven by its recorded clip with voice,
meet through the built-in signaling server, talk over WebRTC on loopback and render each other.

Run: python examples/two_party_call.py    (writes out/examples/two_party_call/demo.mp4, trace.json, report.json,
report.html; the same as `codecav demo --out out/examples/two_party_call`)

CODECAV_EXAMPLE_SMOKE=1 talks for 2 s at a small size; CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from codecav.runtime.call_demo import run_call_demo


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples")) / "two_party_call"
    peer_command = (sys.executable, "-m", "codecav.cli.demo_peer")  # one participant process per peer
    for line in run_call_demo(out_dir, seconds=2.0 if smoke else 10.0, size=128 if smoke else 320,
                              peer_command=peer_command):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
