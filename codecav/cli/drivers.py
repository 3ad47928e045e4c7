"""`codecav driver ...`: make the shipped drivers: train-audio (the audio driver), train-hmc (an identity's HMC
encoder), record-clip (an identity's driving clip). torch and the studio load only when a command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DRIVERS_DIR = Path("codecav/assets/drivers")
"""Where the drivers ship, relative to a checkout's root (the default output folder)."""

CLIPS_DIR = Path("codecav/assets/clips")
"""Where the driving clips ship, relative to a checkout's root."""

CACHE_DIR = Path.home() / ".cache" / "codecav"
"""Parent of the default data caches of the trainers."""


def _say(text: str) -> None:
    print(text, flush=True)


def _given(**options: Any) -> dict[str, Any]:
    """The options given on the command line; the training config's defaults stand for the others."""
    return {name: value for name, value in options.items() if value is not None}


def _cmd_train_audio(args: argparse.Namespace) -> int:
    from codecav.training.audio_train import AudioTrainConfig, train

    cfg = AudioTrainConfig(**_given(steps=args.steps, espeak_clips=args.espeak_clips, seed=args.seed))
    metrics = train(cfg, Path(args.out), Path(args.cache), progress=_say)
    print(json.dumps(metrics, indent=1))
    return 0


def _cmd_train_hmc(args: argparse.Namespace) -> int:
    from codecav.training.drivers_hmc import HmcTrainConfig, train

    cfg = HmcTrainConfig(identity=args.identity, **_given(frames=args.frames, steps=args.steps, seed=args.seed))
    out = Path(args.out) if args.out else DRIVERS_DIR / f"hmc_{args.identity}.onnx"
    print(json.dumps(train(cfg, out, Path(args.cache), progress=_say), indent=1))
    return 0


def _cmd_record_clip(args: argparse.Namespace) -> int:
    from codecav.training.drivers_clips import record_clip

    out = Path(args.out) if args.out else CLIPS_DIR / str(args.identity)
    path = record_clip(args.identity, out, args.seconds)
    size = sum(f.stat().st_size for f in path.iterdir())
    print(f"wrote {path} ({size / 1e6:.2f} MB)")
    return 0


def register(sub: Any) -> None:
    """Add the `driver` group and its actions."""
    driver = sub.add_parser("driver", help="train the audio driver and HMC encoders, record driving clips")
    driver_sub = driver.add_subparsers(dest="driver_command", metavar="ACTION")

    audio = driver_sub.add_parser("train-audio", help="train the audio driver (log-mel -> ARKit mouth) to ONNX; "
                                  "needs the `train` extra and espeak-ng")
    audio.add_argument("--out", default=str(DRIVERS_DIR / "audio.onnx"),
                       help="ONNX model to write (a .json of config and metrics goes beside it)")
    audio.add_argument("--cache", default=str(CACHE_DIR / "audio_driver"), help="folder caching the training data")
    audio.add_argument("--steps", type=int, help="optimiser steps (default 6000)")
    audio.add_argument("--espeak-clips", type=int, help="espeak-ng utterances to synthesise (default 400)")
    audio.add_argument("--seed", type=int, help="seed of data, augmentation and initialisation (default 0)")
    audio.set_defaults(handler=_cmd_train_audio)

    hmc = driver_sub.add_parser("train-hmc", help="train the HMC encoder of a studio identity (headset views -> "
                                "ARKit-52) to ONNX")
    hmc.add_argument("--identity", type=int, default=0, help="studio identity (0, 1, 2, ...)")
    hmc.add_argument("--out", default=None, help=f"ONNX model to write (default {DRIVERS_DIR}/hmc_<identity>.onnx)")
    hmc.add_argument("--cache", default=str(CACHE_DIR / "hmc_driver"), help="folder caching the rendered frames")
    hmc.add_argument("--frames", type=int, help="training frames to render (default 3000)")
    hmc.add_argument("--steps", type=int, help="optimiser steps (default 3000)")
    hmc.add_argument("--seed", type=int, help="seed of rendering and training (default 0)")
    hmc.set_defaults(handler=_cmd_train_hmc)

    clip = driver_sub.add_parser("record-clip", help="record the driving clip of a studio identity (HMC views, "
                                 "voice, gaze, ARKit ground truth)")
    clip.add_argument("--identity", type=int, default=0, help="studio identity (0, 1, 2, ...)")
    clip.add_argument("--out", default=None, help=f"clip folder to write (default {CLIPS_DIR}/<identity>)")
    clip.add_argument("--seconds", type=float, default=4.0, help="clip length (at most the sentence's)")
    clip.set_defaults(handler=_cmd_record_clip)
