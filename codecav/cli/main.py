"""The `codecav` command line (also `python -m codecav`): parses arguments, runs one command, and turns
every CodecavError into one line on stderr with exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from codecav import __version__
from codecav.cli import avatar, call, demo, drivers, encode, profile, render
from codecav.cli.sources import register_cli_sources
from codecav.errors import CodecavError

Handler = Callable[[argparse.Namespace], int]

COMMAND_GROUPS = (avatar, render, profile, demo, call, encode, drivers)
"""Modules that add subcommands, in help order: each has `register(sub)` and sets `handler` on every parser it
adds. Their imports stay inside handlers (no torch, GL or aiortc at start-up)."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; each subcommand stores its handler in `handler`."""
    parser = argparse.ArgumentParser(
        prog="codecav",
        description="Codec-avatar telepresence: render, inspect and run photorealistic avatars.",
    )
    parser.add_argument("--version", action="version", version=f"codecav {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one line and return 2, never a traceback."""
    register_cli_sources()
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
    except BrokenPipeError:
        # The reader went away (`codecav avatar info X | head`): stop quietly, as the Python docs advise, and keep
        # the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
