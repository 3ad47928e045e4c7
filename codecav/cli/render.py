"""`codecav render` (avatars into a PNG) and `codecav drive` (a face video drives an avatar into an MP4)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from codecav.cli.args import parse_size


def _cmd_render(args: argparse.Namespace) -> int:
    from codecav.runtime.render_command import RenderRequest, render_to_png

    width, height = parse_size(args.size)
    request = RenderRequest(
        avatar_paths=[Path(p) for p in args.avatar],
        count=args.avatars,
        width=width,
        height=height,
        stereo=args.stereo,
        renderer=args.renderer,
        out=Path(args.out),
        threads=args.threads,
        seed=args.seed,
    )
    result = render_to_png(request)
    print(
        f"wrote {result.path} ({result.width}x{result.height}, {result.avatars} avatar(s), "
        f"{result.covered_fraction:.1%} of pixels covered, {result.frame_ms:.1f} ms/frame on {result.gl_renderer})"
    )
    return 0


def _cmd_drive(args: argparse.Namespace) -> int:
    from codecav.runtime.drive_command import DriveRequest, run_drive

    request = DriveRequest(args.source, Path(args.out), avatar=Path(args.avatar) if args.avatar else None,
                           seconds=args.seconds, height=args.height, follow_head=not args.no_head_pose)
    for line in run_drive(request):
        print(line, flush=True)
    return 0


def register(sub: Any) -> None:
    """Add `render` and `drive`."""
    render = sub.add_parser("render", help="render avatars into a PNG (headless, no display needed)")
    render.add_argument("--avatar", action="append", default=[], metavar="PATH",
                        help="avatar package; repeat to mix avatars (default: the shipped samples)")
    render.add_argument("--avatars", type=int, default=1, metavar="N", help="how many avatar instances (1..16)")
    render.add_argument("--size", default="512x512", metavar="WxH")
    render.add_argument("--stereo", action="store_true", help="render two eyes side by side")
    render.add_argument("--renderer", default="pica", choices=["pica", "full_texture"],
                        help="pica: per-pixel MLP on covered pixels; full_texture: DAM-style baseline")
    render.add_argument("--threads", type=int, default=1, help="onnxruntime threads for the neural decoder")
    render.add_argument("--seed", type=int, default=0, help="seed of the random latent codes")
    render.add_argument("--out", default="out/render.png")
    render.set_defaults(handler=_cmd_render)

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
