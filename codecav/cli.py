"""The `codecav` command line (also `python -m codecav`): parses arguments, runs one command, and turns
every CodecavError into one line on stderr with exit status 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from codecav import __version__
from codecav.errors import CodecavError

Handler = Callable[[argparse.Namespace], int]

COMMAND_MODULES: tuple[str, ...] = (
    "codecav.runtime.commands",
    "codecav.training.commands",
    "codecav.net.commands",
    "codecav.encoders.commands",
)
"""Modules that add subcommands: each has `register(sub, avatar_sub)` taking the top-level subparsers and the
`avatar` subparsers, and sets `handler` on every parser it adds. Imports inside handlers stay lazy (no torch
at start-up)."""


class UsageError(CodecavError):
    """A command-line argument is malformed."""


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' -> (512, 384); UsageError naming the expected form otherwise."""
    try:
        w_text, h_text = text.lower().split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        raise UsageError(f"size {text!r} is not WIDTHxHEIGHT; write e.g. --size 512x512") from None
    if not (8 <= width <= 8192 and 8 <= height <= 8192):
        raise UsageError(f"size {text!r} is out of range; use 8..8192 pixels per side")
    return width, height


def _cmd_avatar_info(args: argparse.Namespace) -> int:
    from codecav.assets.inspect import describe_avatar

    print(describe_avatar(Path(args.path)))
    return 0


def _cmd_avatar_verify(args: argparse.Namespace) -> int:
    from codecav.assets.inspect import verify_summary

    print(verify_summary(Path(args.path)))
    return 0


def _cmd_avatar_synth(args: argparse.Namespace) -> int:
    from codecav.assets.synthetic import build_synthetic_avatar
    from codecav.assets.writer import write_avatar

    package = build_synthetic_avatar(seed=args.seed)
    path = write_avatar(package, Path(args.out))
    print(f"wrote random-weight (untrained, plumbing only) avatar {package.manifest.avatar_id} to {path}")
    return 0


def _cmd_avatar_capture(args: argparse.Namespace) -> int:
    from codecav.training.studio.capture import capture_identity

    summary = capture_identity(args.identity, Path(args.out), preset=args.preset, cameras=args.cameras,
                               size=args.size, frames=args.frames, seed=args.seed)
    segments = ", ".join(f"{name} ({count})" for name, count in summary.segments)
    print(f"wrote capture of identity {summary.identity} ({summary.name}) to {summary.out_dir}: "
          f"{summary.frames} frames x {summary.cameras} cameras in {summary.seconds:.1f} s "
          f"({summary.frames_per_second:.2f} frames/s); segments {segments}")
    return 0


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


def _cmd_demo(args: argparse.Namespace) -> int:
    from codecav.runtime.demo import run_demo

    for line in run_demo(Path(args.out), xr=args.xr, window=args.window, seconds=args.seconds):
        print(line, flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; each subcommand stores its handler in `handler`."""
    parser = argparse.ArgumentParser(
        prog="codecav",
        description="Codec-avatar telepresence: render, inspect and run photorealistic avatars.",
    )
    parser.add_argument("--version", action="version", version=f"codecav {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    avatar = sub.add_parser("avatar", help="inspect, verify or make avatar packages")
    avatar_sub = avatar.add_subparsers(dest="avatar_command", metavar="ACTION")
    info = avatar_sub.add_parser("info", help="describe an avatar package (.cavatar or directory)")
    info.add_argument("path")
    info.set_defaults(handler=_cmd_avatar_info)
    verify = avatar_sub.add_parser("verify", help="check hashes, shapes and weights, and run the decoder once")
    verify.add_argument("path")
    verify.set_defaults(handler=_cmd_avatar_verify)
    synth = avatar_sub.add_parser("synth", help="write a random-weight plumbing avatar (untrained)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", required=True, help="a directory or a path ending in .cavatar")
    synth.set_defaults(handler=_cmd_avatar_synth)

    capture = avatar_sub.add_parser(
        "capture", help="render a synthetic multi-view capture of a studio head in the Multiface layout")
    capture.add_argument("--identity", type=int, required=True, help="which studio identity (0, 1, 2, ...)")
    capture.add_argument("--out", required=True, help="output folder (Multiface layout)")
    capture.add_argument("--preset", default="default", help="'default' (32 cameras, ~9 min) or 'quick' (seconds)")
    capture.add_argument("--cameras", type=int, default=None, help="override the preset's camera count")
    capture.add_argument("--size", type=int, default=None, help="override the image height in pixels")
    capture.add_argument("--frames", type=int, default=None, help="override the number of random-expression frames")
    capture.add_argument("--seed", type=int, default=0)
    capture.set_defaults(handler=_cmd_avatar_capture)

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

    demo = sub.add_parser("demo", help="the main job: run the sample avatars and write results to --out")
    demo.add_argument("--out", default="out")
    demo.add_argument("--xr", action="store_true",
                      help="show the avatars on an OpenXR headset; without a runtime, say why and fall back")
    demo.add_argument("--window", action="store_true", help="show the avatars live in a desktop window first")
    demo.add_argument("--seconds", type=float, default=12.0,
                      help="how long the two participants talk (latency figures leave out the first 3 s)")
    demo.set_defaults(handler=_cmd_demo)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub, avatar_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one line and return 2, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except CodecavError as exc:
        print(f"codecav: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codecav: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
