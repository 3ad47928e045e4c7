"""`codecav demo`: the main job on the shipped samples."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PEER_COMMAND = (sys.executable, "-m", "codecav.cli.demo_peer")
"""How the demo starts each participant process (the channel is described in codecav.cli.demo_peer)."""


def _cmd_demo(args: argparse.Namespace) -> int:
    from codecav.runtime.demo import run_demo

    for line in run_demo(Path(args.out), xr=args.xr, window=args.window, seconds=args.seconds,
                         peer_command=PEER_COMMAND,
                         avatars=[Path(p) for p in args.avatars] if args.avatars else None):
        print(line, flush=True)
    return 0


def register(sub: Any) -> None:
    """Add `demo`."""
    demo = sub.add_parser("demo", help="the main job: run the sample avatars and write results to --out")
    demo.add_argument("--out", default="out")
    demo.add_argument("--xr", action="store_true",
                      help="run alice's side of the call in an OpenXR headset (her head drives her avatar); "
                           "without a runtime, say why and fall back")
    demo.add_argument("--window", action="store_true", help="show the avatars live in a desktop window first")
    demo.add_argument("--seconds", type=float, default=12.0,
                      help="how long the two participants talk (latency figures leave out the first 3 s)")
    demo.add_argument("--avatars", nargs=2, metavar=("ALICE", "BOB"),
                      help="the two participants' .cavatar packages (default: the shipped samples lee and lee-shape1)")
    demo.set_defaults(handler=_cmd_demo)
