"""`codecav profile SCENARIO`: run a scenario with the profiler on; trace.json, report.json, report.html."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from codecav.cli.args import parse_size


def _cmd_profile(args: argparse.Namespace) -> int:
    from codecav.runtime.profile_command import ProfileRequest, run_profile

    width, height = parse_size(args.size)
    request = ProfileRequest(args.scenario, Path(args.out), seconds=args.seconds, avatars=args.avatars,
                             fps=args.fps, width=width, height=height, display_hz=args.display_hz)
    for line in run_profile(request):
        print(line, flush=True)
    return 0


def register(sub: Any) -> None:
    """Add `profile`."""
    profile = sub.add_parser(
        "profile", help="run a scenario with the profiler on; write trace.json (Perfetto), report.json, report.html",
        description="Measure per-stage times and capture-to-photon latency. Scenario 'local': N senders in this "
                    "process through the real wire format to the headless renderer (no network). Open trace.json "
                    "in https://ui.perfetto.dev; report.html has the tables and plots.")
    profile.add_argument("scenario", choices=["local"], help="what to run")
    profile.add_argument("--out", default="out/profile", help="folder for trace.json, report.json, report.html")
    profile.add_argument("--seconds", type=float, default=5.0, help="how long to measure")
    profile.add_argument("--avatars", type=int, default=3, help="remote avatars to decode and render (1..16)")
    profile.add_argument("--fps", type=float, default=30.0, help="sender frame rate")
    profile.add_argument("--display-hz", type=float, default=72.0, help="render loop pacing")
    profile.add_argument("--size", default="640x480", metavar="WxH", help="view size")
    profile.set_defaults(handler=_cmd_profile)
