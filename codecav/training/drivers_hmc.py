"""Train the HMC encoder of one studio identity: headset views (left eye, right eye, mouth) -> ARKit-52
weights, a small conv net in torch exported to ONNX ("hmc" float32 [N, 3, S, S] in 0..1 -> "arkit" [N, 52]).

    codecav driver train-hmc --identity 0 --out codecav/assets/drivers/hmc_0.onnx

Data: the studio renders the identity from the headset cameras (codecav.training.studio.hmc) with random sparse
expressions, gaze, blinks and speech visemes, a fresh headset slippage per frame; exposure and sensor noise are
drawn anew for every batch. A held-out set (other seed) gives the figures in the .json beside the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from codecav.clock import MONOTONIC, Clock
from codecav.training.studio.expressions import gaze_weights, speech_sequence
from codecav.training.studio.hmc import HmcConfig, HmcStudio, random_hmc_expression, slippage


@dataclass(frozen=True)
class HmcTrainConfig:
    """Data and optimisation of the HMC encoder."""

    identity: int = 0
    """Studio identity."""
    frames: int = 3000
    """Training frames rendered."""
    heldout_frames: int = 300
    """Held-out frames (another seed, speech from a sentence never trained on)."""
    steps: int = 3000
    """Optimiser steps."""
    batch: int = 48
    """Frames per step."""
    lr: float = 2e-3
    """Adam learning rate (cosine decay)."""
    seed: int = 0
    """Seed of rendering and training."""


class HmcNet(nn.Module):
    """Three grayscale views stacked as channels -> 2x average pool -> strided convs -> ARKit-52 (sigmoid)."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, k: int = 3) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(nn.AvgPool2d(2), *block(3, 24, 5), *block(24, 32), *block(32, 64),
                                      *block(64, 128))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 16, 128), nn.ReLU(), nn.Linear(128, 52), nn.Sigmoid())

    def forward(self, hmc: torch.Tensor) -> torch.Tensor:
        """hmc [N, 3, 128, 128] in 0..1 -> [N, 52]."""
        out: torch.Tensor = self.head(self.features(hmc * 2.0 - 1.0))
        return out


def render_set(studio: HmcStudio, frames: int, seed: int, sentences: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(views uint8 [T, 3, S, S] without noise, weights float32 [T, 52]): 75% random expressions, 25% speech
    visemes of `sentences` with a random gaze; a fresh slippage per frame."""
    rng = np.random.default_rng(seed)
    speech = np.concatenate([speech_sequence(i).weights for i in sentences])
    weights = []
    for i in range(frames):
        if i % 4 == 3:
            w = speech[int(rng.integers(len(speech)))].copy()
            w = np.maximum(w, gaze_weights(float(rng.uniform(-0.8, 0.8)), float(rng.uniform(-0.6, 0.6))))
        else:
            w = random_hmc_expression(rng)
        weights.append(w.astype(np.float32))
    views = np.stack([studio.render(w, slippage(rng, studio.config)) for w in weights])
    return views, np.stack(weights)


def augment(views: torch.Tensor, gen: torch.Generator, cfg: HmcConfig) -> torch.Tensor:
    """Per-view exposure gain (each headset camera exposes on its own), shot and read noise, as
    codecav.training.studio.hmc.to_ir adds them."""
    n = views.shape[0]
    lo, hi = cfg.gain_range
    gain = lo + (hi - lo) * torch.rand(n, views.shape[1], 1, 1, generator=gen)
    x = views * gain
    shot = torch.randn(views.shape, generator=gen) * torch.sqrt(cfg.shot * x.clamp(min=0) * 4 / 255.0)
    x = x + shot + torch.randn(views.shape, generator=gen) * cfg.noise
    return x.clamp(0, 1)


def evaluate(model: nn.Module, views: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Mean absolute weight error, jawOpen / eyeBlinkLeft correlations on a set (with sensor noise)."""
    from codecav.arkit import ARKIT_INDEX

    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        pred = torch.cat([model(augment(torch.from_numpy(views[i:i + 64]).float() / 255.0, gen, HmcConfig()))
                          for i in range(0, len(views), 64)]).numpy()
    jaw, blink = ARKIT_INDEX["jawOpen"], ARKIT_INDEX["eyeBlinkLeft"]
    look = ARKIT_INDEX["eyeLookOutLeft"]
    return {"mae": float(np.abs(pred - weights).mean()),
            "jaw_corr": float(np.corrcoef(pred[:, jaw], weights[:, jaw])[0, 1]),
            "blink_corr": float(np.corrcoef(pred[:, blink], weights[:, blink])[0, 1]),
            "look_out_left_corr": float(np.corrcoef(pred[:, look], weights[:, look])[0, 1])}


def train(cfg: HmcTrainConfig, out: Path, cache: Path, *, progress: Callable[[str], None] | None = None,
          clock: Clock = MONOTONIC) -> dict[str, float]:
    """Render (cached), train, export ONNX to `out` with a .json of config and metrics; return the metrics.
    Progress lines (data, then the loss every 250 steps) go to `progress`; `clock` times the run."""
    say = progress or (lambda _text: None)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)  # the machine is shared; more threads thrash under load
    start = clock.now_s()
    path = cache / f"hmc_{cfg.identity}_{cfg.frames}_{cfg.heldout_frames}_{cfg.seed}.npz"
    if path.is_file():
        with np.load(path) as data:
            views, weights, hv, hw = data["views"], data["weights"], data["hviews"], data["hweights"]
    else:
        studio = HmcStudio(cfg.identity, seed=0)
        try:
            views, weights = render_set(studio, cfg.frames, cfg.seed, (1, 2, 3, 4))
            hv, hw = render_set(studio, cfg.heldout_frames, cfg.seed + 1000, (0,))
        finally:
            studio.close()
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, views=views, weights=weights, hviews=hv, hweights=hw)
    render_s = clock.now_s() - start
    say(f"data {len(views)} + {len(hv)} frames in {render_s:.0f} s")
    model = HmcNet()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr * 0.03)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_all, y_all = torch.from_numpy(views), torch.from_numpy(weights)
    hmc_cfg = HmcConfig()
    for step in range(cfg.steps):
        idx = torch.randint(0, len(x_all), (cfg.batch,), generator=gen)
        x = augment(x_all[idx].float() / 255.0, gen, hmc_cfg)
        loss = ((model(x) - y_all[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == cfg.steps - 1:
            say(f"step {step} loss {loss.item():.5f} {clock.now_s() - start:.0f} s")
    model.eval()
    metrics = {f"heldout_{k}": v for k, v in evaluate(model, hv, hw).items()}
    metrics |= {f"train_{k}": v for k, v in evaluate(model, views[:300], weights[:300]).items()}
    metrics |= {"render_s": render_s, "wall_s": clock.now_s() - start}
    export_onnx(model, out, cfg, metrics)
    return metrics


def export_onnx(model: nn.Module, out: Path, cfg: HmcTrainConfig, metrics: dict[str, float]) -> None:
    """ONNX "hmc" [N, 3, S, S] -> "arkit" [N, 52] with identity and view names in its metadata."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    size = HmcConfig().size
    torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(out), input_names=["hmc"], output_names=["arkit"],
                      dynamic_axes={"hmc": {0: "batch"}, "arkit": {0: "batch"}}, opset_version=17, dynamo=False)
    proto = onnx.load(str(out))
    for key, value in {"identity": str(cfg.identity), "views": "left_eye,right_eye,mouth", "size": str(size)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = "codecav HMC encoder: headset views -> ARKit-52 (codecav.training.drivers_hmc)"
    onnx.save(proto, str(out))
    record = {"config": asdict(cfg), "hmc": asdict(HmcConfig()), "metrics": metrics,
              "command": f"codecav driver train-hmc --identity {cfg.identity} --out {out}"}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")

