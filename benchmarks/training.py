"""Trainer cost and shipped-sample cost: PiCA vs the DAM baseline.

    .venv/bin/python benchmarks/training.py --json

1. Training step time (batch 4, default ModelConfig, torch threads 1) of PiCA and DAM on a fresh quick
   capture of identity 0, the two interleaved step by step so machine load falls on both alike; median.
2. ONNX decode time (onnxruntime CPU, 1 thread) of every shipped sample package, median of --decodes runs,
   and its size on disk. Decode cost is the per-frame neural cost a receiver pays per avatar.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.loader import load_avatar  # noqa: E402
from codecav.assets.samples import sample_avatar_paths  # noqa: E402
from codecav.decoders.neural import OnnxNeuralDecoder  # noqa: E402


def training_steps(steps: int) -> dict[str, float]:
    """Median seconds per training step of PiCA and DAM, interleaved."""
    import torch

    from codecav.training.dataset import load_capture_data
    from codecav.training.model import ModelConfig
    from codecav.training.studio.capture import capture_identity
    from codecav.training.trainer import TrainConfig, _Batches, build_model, losses

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        capture_identity(0, Path(tmp) / "cap", preset="quick")
        data = load_capture_data(Path(tmp) / "cap")
    config = TrainConfig()
    runs = {}
    for kind in ("pica", "dam"):
        model = build_model(data, ModelConfig(kind=kind, texture_size=data.texels.size))
        runs[kind] = (model, torch.optim.Adam(model.parameters()), _Batches(data, np.random.default_rng(0)))
    times: dict[str, list[float]] = {k: [] for k in runs}
    for step in range(steps + 2):
        for kind, (model, optim, batches) in runs.items():
            start = time.perf_counter()
            parts = losses(model, batches.draw(config.batch), batches, config)
            optim.zero_grad()
            parts["total"].backward()
            optim.step()
            if step >= 2:  # warm-up
                times[kind].append(time.perf_counter() - start)
    out = {f"{k}_train_step_s": round(statistics.median(v), 4) for k, v in times.items()}
    out["dam_over_pica_train_step"] = round(out["dam_train_step_s"] / out["pica_train_step_s"], 3)
    return out


def sample_decodes(decodes: int) -> dict[str, float]:
    """Median ONNX decode ms and file size of each shipped sample."""
    out: dict[str, float] = {}
    for path in sample_avatar_paths(include_baselines=True):
        package = load_avatar(path)
        decoder = OnnxNeuralDecoder(package.decoder_onnx, threads=1)
        code = np.zeros(package.manifest.latent.dim, np.float32)
        view = np.array([0.0, 0.0, 1.0], np.float32)
        decoder.decode(code, view)
        times = []
        for _ in range(decodes):
            start = time.perf_counter()
            decoder.decode(code, view)
            times.append((time.perf_counter() - start) * 1000)
        stem = path.name[: -len(".cavatar")]
        out[f"{stem}_decode_ms"] = round(statistics.median(times), 2)
        out[f"{stem}_size_mb"] = round(path.stat().st_size / 1e6, 2)
    return out


def main() -> int:
    """Run and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--decodes", type=int, default=20, help="timed decodes per sample")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    result: dict[str, object] = {"load_average": round(os.getloadavg()[0], 2)}
    result.update(training_steps(2 if smoke else args.steps))
    result.update(sample_decodes(2 if smoke else args.decodes))
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
