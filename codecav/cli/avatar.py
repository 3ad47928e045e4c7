"""`codecav avatar ...`: inspect, verify and make avatar packages: info, verify, synth, capture, build, eval
(torch is imported only when a build runs)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

QUICK_SEED = 1000
"""Expression seed of the fresh --quick capture: the same person, new random expressions, blinks, gaze and
head motion (the training captures use expression seed 0)."""



def register(sub: Any) -> None:
    """Add the `avatar` group and its actions."""
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
    capture.add_argument("--preset", default="default",
                         help="'default' (32 cameras, ~9 min; what `avatar build` trains on) or 'quick' (seconds)")
    capture.add_argument("--cameras", type=int, default=None, help="override the preset's camera count")
    capture.add_argument("--size", type=int, default=None, help="override the image height in pixels")
    capture.add_argument("--frames", type=int, default=None, help="override the number of random-expression frames")
    capture.add_argument("--seed", type=int, default=0)
    capture.add_argument("--head", default="makehuman", choices=["makehuman", "ict"],
                         help="head source: makehuman (painted MakeHuman head) or ict (ICT-FaceKit rig in Lee "
                              "Perry-Smith's scanned skin; every ICT identity wears that same skin)")
    capture.set_defaults(handler=_cmd_avatar_capture)

    build = avatar_sub.add_parser("build", help="train a PiCA (or DAM) avatar on a capture and write the package")
    build.add_argument("--capture", required=True, help="capture directory (made by codecav avatar capture)")
    build.add_argument("--out", required=True, help="package to write (.cavatar or a directory); the checkpoint "
                       "goes beside it as <name>.ckpt")
    build.add_argument("--model", default="pica", choices=["pica", "dam"])
    build.add_argument("--steps", type=int, default=1500)
    build.add_argument("--batch", type=int, default=4, help="(frame, camera) pairs per step")
    build.add_argument("--lr", type=float, default=2e-3)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--geometry-weight", type=float, default=1.0,
                       help="weight of the vertex loss (mean squared error in cm^2) beside the photometric one")
    build.add_argument("--clip-grad-norm", type=float, default=1.0,
                       help="scale a step's gradient down to this global norm when larger (0: never; default "
                            "%(default)g)")
    build.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    build.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    build.set_defaults(handler=_cmd_build)

    evaluate = avatar_sub.add_parser("eval", help="render held-out frames through the GLSL path; PSNR and SSIM")
    evaluate.add_argument("path", help="avatar package")
    evaluate.add_argument("--capture", help="capture directory to compare with (default with --quick: a fresh one)")
    evaluate.add_argument("--quick", action="store_true",
                          help="capture a small fresh capture of the avatar's identity and evaluate on it (< 1 min)")
    evaluate.add_argument("--baseline", help="DAM package to report beside it (default: <name>-dam beside PATH)")
    evaluate.add_argument("--frames", type=int, default=12, help="frames per held-out set (evenly spaced)")
    evaluate.add_argument("--cameras", type=int, default=4, help="cameras per held-out set")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--wire-only", action="store_true",
                          help="only the wire v2 quantization's render cost (no capture needed)")
    evaluate.set_defaults(handler=_cmd_eval)

    tables = avatar_sub.add_parser("tables", help="learn the wire v2 quant table of a trained package from its "
                                   "codes and write the package with it (format v2; no retraining)")
    tables.add_argument("path", help="avatar package with encoders/expression.onnx and a studio identity")
    tables.add_argument("--out", help="package to write (default: replace PATH)")
    tables.add_argument("--target-db", type=float, default=None,
                        help="head-region PSNR of quantized vs float renders to reach (default 42)")
    tables.set_defaults(handler=_cmd_tables)

    compact = avatar_sub.add_parser("compact", help="store the decoder's large weights as int8 rows / float16 "
                                    "(a smaller package to send; no retraining; `avatar eval` measures the cost)")
    compact.add_argument("path", help="avatar package")
    compact.add_argument("--out", help="package to write (default: replace PATH)")
    compact.set_defaults(handler=_cmd_compact)



def _invocation() -> str:
    """This command line as `codecav ...` for a package's provenance ('' when not run as the codecav CLI)."""
    return shlex.join(["codecav", *sys.argv[1:]]) if sys.argv and "avatar" in sys.argv else ""


def _cmd_avatar_info(args: argparse.Namespace) -> int:
    from codecav.assets.inspect import describe_avatar

    print(describe_avatar(Path(args.path)))
    return 0


def _cmd_avatar_verify(args: argparse.Namespace) -> int:
    from codecav.assets.inspect import verify_summary

    print(verify_summary(Path(args.path)))
    return 0


def _cmd_avatar_synth(args: argparse.Namespace) -> int:
    from codecav.assets.synthetic.avatar import build_synthetic_avatar
    from codecav.assets.writer import write_avatar

    package = build_synthetic_avatar(seed=args.seed)
    path = write_avatar(package, Path(args.out))
    print(f"wrote random-weight (untrained, plumbing only) avatar {package.manifest.avatar_id} to {path}")
    return 0


def _cmd_avatar_capture(args: argparse.Namespace) -> int:
    from codecav.training.studio.capture import capture_identity

    summary = capture_identity(args.identity, Path(args.out), preset=args.preset, cameras=args.cameras,
                               size=args.size, frames=args.frames, seed=args.seed, head_source=args.head)
    segments = ", ".join(f"{name} ({count})" for name, count in summary.segments)
    print(f"wrote capture of identity {summary.identity} ({summary.name}) to {summary.out_dir}: "
          f"{summary.frames} frames x {summary.cameras} cameras in {summary.seconds:.1f} s "
          f"({summary.frames_per_second:.2f} frames/s); segments {segments}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from codecav.training.build import BuildRequest, build_avatar
    from codecav.training.errors import TrainingError
    from codecav.training.trainer import TrainConfig, TrainProgress

    if args.steps < 1 or args.batch < 1 or args.threads < 1:
        raise TrainingError("--steps, --batch and --threads must be >= 1")
    if args.clip_grad_norm < 0:
        raise TrainingError("--clip-grad-norm must be >= 0 (0 never clips)")

    def show(p: TrainProgress) -> None:
        width = 30
        filled = int(width * p.step / p.steps)
        eta = p.seconds / max(p.step, 1) * (p.steps - p.step)
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.step}/{p.steps} loss {p.loss:.5f} "
              f"uv-mse {p.photometric_mse:.2e} geo {p.geometry_mm:.3f} mm grad-max {p.grad_norm_max:.2g}  "
              f"{p.seconds:.0f} s, eta {eta:.0f} s",
              end="" if p.step < p.steps else "\n", file=sys.stderr, flush=True)

    command = _invocation()
    request = BuildRequest(
        capture=Path(args.capture), out=Path(args.out), model=args.model,
        train=TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads,
                          geometry_weight=args.geometry_weight, clip_grad_norm=args.clip_grad_norm),
        resume=args.resume, command=command,
    )
    result = build_avatar(request, progress=show, note=lambda text: print(text, file=sys.stderr, flush=True))
    print(f"wrote {result.path} ({args.model}, {result.wall_time_s:.0f} s of training; checkpoint "
          f"{result.checkpoint}); metrics {json.dumps(result.metrics)}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from codecav.assets.loader import load_avatar
    from codecav.training.errors import EvalError
    from codecav.training.evaluate import evaluate

    path = Path(args.path)

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    baseline = Path(args.baseline) if args.baseline else _sibling_dam(path)
    out: dict[str, Any] = {"package": str(path), **_wire_report(path)}
    if args.wire_only:
        _print(out, args.json)
        return 0
    with tempfile.TemporaryDirectory(prefix="codecav-eval-") as tmp:
        if args.quick and not args.capture:
            from codecav.training.studio.capture import capture_identity

            identity = load_avatar(path).manifest.provenance.get("data", {}).get("identity", {})
            if "index" not in identity:
                raise EvalError(f"{path}: provenance names no studio identity; pass --capture DIR instead of --quick")
            settings = load_avatar(path).manifest.provenance.get("data", {}).get("capture_config", {})
            summary = capture_identity(int(identity["index"]), Path(tmp) / "quick", preset="quick",
                                       seed=int(identity.get("seed", 0)), expression_seed=QUICK_SEED,
                                       head_source=str(settings.get("head_source", "makehuman")))
            capture = summary.out_dir
            note(f"quick capture: {summary.frames} frames x {summary.cameras} cameras in {summary.seconds:.1f} s")
        elif args.capture:
            capture = Path(args.capture)
        else:
            raise EvalError("give --capture DIR or --quick")
        frames = args.frames
        report = evaluate(path, capture, max_frames=frames, max_cameras=args.cameras, progress=note)
        out.update({"capture": "fresh quick capture" if args.quick and not args.capture else str(capture),
                    "code_source": report.code_source, **report.flat(), "seconds": round(report.seconds, 1)})
        if baseline is not None:
            dam = evaluate(baseline, capture, max_frames=frames, max_cameras=args.cameras, progress=note)
            out.update({"baseline": str(baseline), **dam.flat("dam_"),
                        "seconds": round(report.seconds + dam.seconds, 1)})
    _print(out, args.json)
    return 0


def _print(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key}: {value}")


def _identity(package: Any, path: Path) -> int:
    from codecav.training.errors import EvalError

    identity = package.manifest.provenance.get("data", {}).get("identity", {})
    if "index" not in identity:
        raise EvalError(f"{path}: provenance names no studio identity; it needs a trained sample's provenance")
    return int(identity["index"])


def _wire_report(path: Path) -> dict[str, Any]:
    """The wire v2 quantization's render cost on held-out codes (empty without a quant table)."""
    from codecav.assets.loader import load_avatar
    from codecav.training.wire_tables import evaluate_table, heldout_codes

    package = load_avatar(path)
    if package.quant_table is None or "encoders/expression.onnx" not in package.encoders_onnx:
        return {}
    report = evaluate_table(package, heldout_codes(package, _identity(package, path)))
    return {"wire_v2_psnr_db": round(report.psnr_db, 2), "wire_v2_psnr_min_db": round(report.psnr_min_db, 2),
            "wire_v2_frames": report.frames, "wire_v2_bits_per_entry": round(report.mean_bits_per_entry, 2)}


def _cmd_tables(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from codecav.assets.loader import load_avatar
    from codecav.assets.writer import write_avatar
    from codecav.training.wire_tables import (
        TARGET_PSNR_DB,
        evaluate_table,
        heldout_codes,
        learn_quant_table,
        studio_codes,
    )

    path = Path(args.path)
    package = load_avatar(path)
    identity = _identity(package, path)
    target = TARGET_PSNR_DB if args.target_db is None else args.target_db
    codes = studio_codes(package, identity, 0)
    table, learned = learn_quant_table(package, codes, target_db=target,
                                       progress=lambda text: print(text, file=sys.stderr, flush=True))
    held = evaluate_table(package, heldout_codes(package, identity), table)
    out = Path(args.out) if args.out else path
    command = _invocation()
    provenance = dict(package.manifest.provenance)
    provenance["wire_table"] = {
        "command": command, "target_db": target, "learn_codes": "studio recipe, expression seed 0",
        "learn_psnr_db": round(learned.psnr_db, 2), "heldout_psnr_db": round(held.psnr_db, 2),
        "heldout_psnr_min_db": round(held.psnr_min_db, 2), "heldout": "expression seed 1000 + speech clips",
        "bits_per_entry": round(held.mean_bits_per_entry, 2)}
    manifest = replace(package.manifest, provenance=provenance)
    write_avatar(replace(package, manifest=manifest, quant_table=table), out)
    print(f"wrote {out} with a wire v2 quant table: learning codes {learned.psnr_db:.2f} dB, held-out "
          f"{held.psnr_db:.2f} dB (worst frame {held.psnr_min_db:.2f}), {held.mean_bits_per_entry:.2f} bits/entry")
    return 0


def _cmd_compact(args: argparse.Namespace) -> int:
    from codecav.assets.loader import load_avatar
    from codecav.assets.onnx_compact import compact_package
    from codecav.assets.writer import write_avatar

    path = Path(args.path)
    package = load_avatar(path)
    command = _invocation()
    compacted, report = compact_package(package, command)
    if compacted is package:
        print(f"{path}: no decoder weight to narrow (already compact, or all small); nothing written")
        return 0
    out = Path(args.out) if args.out else path
    write_avatar(compacted, out)
    print(f"wrote {out}: decoder {report.bytes_before / 1e6:.1f} -> {report.bytes_after / 1e6:.1f} MB "
          f"(int8 rows: {', '.join(report.int8) or 'none'}; float16: {', '.join(report.float16) or 'none'}); "
          f"package {out.stat().st_size / 1e6:.1f} MB")
    return 0


def _sibling_dam(path: Path) -> Path | None:
    stem = path.name[: -len(".cavatar")] if path.name.endswith(".cavatar") else path.name
    if stem.endswith("-dam"):
        return None
    for candidate in (path.with_name(f"{stem}-dam.cavatar"), path.with_name(f"{stem}-dam")):
        if candidate.exists():
            return candidate
    return None
