"""Runtime subcommands: `codecav profile`, `codecav drive`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _cmd_profile(args: argparse.Namespace) -> int:
    from codecav.cli import parse_size
    from codecav.runtime.profile_command import ProfileRequest, run_profile

    width, height = parse_size(args.size)
    request = ProfileRequest(args.scenario, Path(args.out), seconds=args.seconds, avatars=args.avatars,
                             fps=args.fps, width=width, height=height, display_hz=args.display_hz)
    for line in run_profile(request):
        print(line, flush=True)
    return 0


def _cmd_drive(args: argparse.Namespace) -> int:
    from codecav.runtime.drive_command import DriveRequest, run_drive

    request = DriveRequest(args.source, Path(args.out), avatar=Path(args.avatar) if args.avatar else None,
                           seconds=args.seconds, height=args.height, follow_head=not args.no_head_pose)
    for line in run_drive(request):
        print(line, flush=True)
    return 0


def register(sub: Any, avatar_sub: Any) -> None:
    """Add `codecav profile` and `codecav drive`."""
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

    drive = sub.add_parser(
        "drive", help="drive an avatar from a face video or webcam; write the avatar beside the input as MP4",
        description="MediaPipe face tracking -> ARKit-52 weights -> the avatar's expression encoder -> its code, "
                    "rendered headless next to the input picture. Needs pip install 'codecav[webcam]' "
                    "(see docs/webcam.md).")
    drive.add_argument("--source", default="webcam", help="webcam, webcam:/dev/videoN or webcam:FILE")
    drive.add_argument("--avatar", help="avatar package with encoders/expression.onnx (default: a sample avatar)")
    drive.add_argument("--out", default="out/drive.mp4", help="MP4 to write")
    drive.add_argument("--seconds", type=float, default=None, help="stop after this much input (camera: needed)")
    drive.add_argument("--height", type=int, default=360, help="output height in pixels (even)")
    drive.add_argument("--no-head-pose", action="store_true", help="keep the avatar's head still")
    drive.set_defaults(handler=_cmd_drive)
