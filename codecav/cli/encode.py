"""Encoder subcommands: `codecav devices` (audio inputs) and `codecav encode` (sources -> an avatar's latent
codes, written as .npz)."""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_devices(args: argparse.Namespace) -> int:
    from codecav.encoders.audio.microphone import input_devices

    devices = input_devices()
    if not devices:
        print("no audio input devices (connect a microphone or start PulseAudio/PipeWire/JACK)")
    for index, name, api, channels, rate in devices:
        print(f"{index:3d}  {name}  ({api}, {channels} in, {rate:.0f} Hz)")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from codecav.assets.loader import load_avatar
    from codecav.encoders.expression import ExpressionEncoder
    from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig
    from codecav.encoders.sources import open_source

    package = load_avatar(args.avatar)
    encoder = ExpressionEncoder.from_package(package, threads=args.threads)
    live = any(spec.startswith(("mic", "webcam", "hmc-studio")) for spec in args.source)
    sources: dict[str, Any] = {}
    for spec in args.source:
        source: Any
        if live and spec.startswith("wav:"):
            from codecav.encoders.audio.driver import WavSource

            kind, source = "audio", WavSource(spec[4:], realtime=True)  # played along with the live sources
        else:
            kind, source = open_source(spec)
        sources[kind if kind not in sources else f"{kind}{len(sources)}"] = source
    config = LatentSourceConfig(fps=args.fps, realtime=live)
    frames: list[Any] = []
    with ExpressionLatentSource(sources, encoder, config) as latent:
        while args.seconds is None or len(frames) < args.seconds * args.fps:
            frame = latent.read()
            if frame is None:
                break
            frames.append(frame)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, codes=np.stack([f.code for f in frames]) if frames else np.zeros((0, package.manifest.latent.dim)),
             capture_time_us=np.array([f.capture_time_us for f in frames], np.int64),
             flags=np.array([int(f.flags) for f in frames], np.int32),
             segments=np.array([f"{s.name}:{s.size}" for s in package.manifest.latent.segments]))
    print(f"wrote {len(frames)} latent frames ({args.fps:g} fps) of {package.manifest.avatar_id} from "
          f"{', '.join(args.source)} to {out}")
    return 0


def register(sub: Any) -> None:
    """Add `codecav devices` and `codecav encode`."""
    devices = sub.add_parser("devices", help="list audio input devices (for --source mic:DEVICE)")
    devices.set_defaults(handler=_cmd_devices)
    encode = sub.add_parser("encode", help="drive an avatar from sources and write its latent codes (.npz)")
    encode.add_argument("--source", action="append", required=True, metavar="SPEC",
                        help="wav:PATH, mic[:DEVICE], clip[:IDENTITY|DIR], expressions:PATH.npz, "
                             "hmc-studio[:IDENTITY], webcam[:DEVICE|FILE]; repeat to fuse several")
    encode.add_argument("--avatar", required=True, help="avatar package with encoders/expression.onnx")
    encode.add_argument("--out", default="out/latents.npz")
    encode.add_argument("--fps", type=float, default=30.0)
    encode.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (live sources)")
    encode.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    encode.set_defaults(handler=_cmd_encode)
