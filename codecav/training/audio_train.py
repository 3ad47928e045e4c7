"""Train the audio driver (log-mel window -> ARKit mouth weights) in torch and export it to ONNX.

    codecav driver train-audio --out codecav/assets/drivers/audio.onnx

Data (codecav.training.audio_data): espeak-ng sentences (Asterisk transcripts spoken by varied voices,
rates, pitches) and the real Asterisk prompts aligned by DTW; the studio's SENTENCES are never trained on and
give the held-out figure `lipsync_jaw_corr`. Augmentation in the log-mel domain (codecav.training.audio_augment):
gain, vocal tract length, microphone colouring, a room's echo, coloured noise, and noise alone with the mouth at
rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from codecav.clock import MONOTONIC, Clock
from codecav.encoders.audio.features import HOP, LOG_FLOOR, N_MELS, SAMPLE_RATE, WINDOW
from codecav.encoders.audio.features import log_mel as log_mel_np
from codecav.training.audio_augment import AudioAugment, augment
from codecav.training.audio_data import MOUTH_NAMES, SpeechClip, asterisk_clips, asterisk_transcripts, espeak_clip
from codecav.training.studio.expressions import SENTENCES

PAST, FUTURE = 24, 4
"""Context of one prediction in log-mel frames: 24 before (240 ms) and 4 after (40 ms lookahead)."""


@dataclass(frozen=True)
class AudioTrainConfig:
    """What the audio driver is trained on and how long."""

    espeak_clips: int = 400
    """espeak-ng utterances (random voice, rate, pitch; Asterisk transcripts as text)."""
    asterisk_max_cost: float = 6.0
    """Drop Asterisk prompts whose DTW alignment cost per step exceeds this."""
    steps: int = 6000
    """Optimiser steps."""
    batch: int = 256
    """Windows per step."""
    lr: float = 2e-3
    """Adam learning rate (cosine decay to 5%)."""
    hidden: int = 64
    """Channels of the temporal conv stack."""
    seed: int = 0
    """Seed of data choices, augmentation and initialisation."""
    augment: AudioAugment = AudioAugment(noise_prob=0.7, noise_dbfs=(-90.0, -35.0), noise_tilt_db=(-36.0, 12.0),
                                         eq_db=6.0, warp=0.12, noise_only=0.25, noise_frames=True, reverb_prob=0.3)
    """Random changes to each training window (session 15: other voices, microphones, rooms' echo and noise, and
    noise alone; `AudioAugment()` is the gain and white noise of the driver trained before)."""


class AudioMouthNet(nn.Module):
    """Dilated temporal convs over a normalised log-mel window -> ARKit mouth weights (linear output: a sigmoid
    saturated on the many zero targets and stopped learning; the runtime clips to 0..1)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 64) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.convs = nn.Sequential(
            nn.Conv1d(N_MELS, hidden, 3), nn.ReLU(),
            nn.Conv1d(hidden, hidden, 3, dilation=2), nn.ReLU(),
            nn.Conv1d(hidden, hidden, 3, dilation=4), nn.ReLU(),
        )
        length = PAST + 1 + FUTURE - 2 - 4 - 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(hidden * length, 64), nn.ReLU(),
                                  nn.Linear(64, len(MOUTH_NAMES)))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [N, PAST + 1 + FUTURE, N_MELS] raw log-mel -> [N, len(MOUTH_NAMES)]."""
        mean, std = cast(torch.Tensor, self.mean), cast(torch.Tensor, self.std)
        x = ((mel - mean) / std).transpose(1, 2)
        out: torch.Tensor = self.head(self.convs(x))
        return out


def build_dataset(cfg: AudioTrainConfig, cache: Path, progress: Callable[[str], None] | None = None, *,
                  clock: Clock = MONOTONIC) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, log-mel [T, N_MELS], targets [T, K]) per clip; cached as an .npz under `cache`. Progress lines
    (every 50 clips synthesised or aligned, with the seconds taken on `clock`) go to `progress`."""
    path = cache / f"audio_data_{cfg.espeak_clips}_{cfg.asterisk_max_cost}_{cfg.seed}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            bounds, mel, targets = data["bounds"], data["mel"], data["targets"]
        return [(n, mel[a:b], targets[a:b]) for n, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)]
    rng = np.random.default_rng(cfg.seed)
    texts = [t for t in asterisk_transcripts().values() if not any(t.startswith(s[:20]) for s in SENTENCES)]
    clips: list[SpeechClip] = []
    start = clock.now_s()
    for i in range(cfg.espeak_clips):
        from codecav.training.audio_data import VOICES
        clips.append(espeak_clip(texts[int(rng.integers(len(texts)))], VOICES[int(rng.integers(len(VOICES)))],
                                 int(rng.integers(120, 231)), int(rng.integers(25, 81))))
        if progress is not None and i % 50 == 0:
            progress(f"espeak {i}/{cfg.espeak_clips} {clock.now_s() - start:.0f} s")
    for i, clip in enumerate(asterisk_clips(max_cost=cfg.asterisk_max_cost)):
        clips.append(clip)
        if progress is not None and i % 50 == 0:
            progress(f"asterisk {i} {clock.now_s() - start:.0f} s")
    out = [(c.name, log_mel_np(c.audio), c.targets) for c in clips]
    bounds = np.cumsum([0] + [len(m) for _, m, _ in out])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, names=np.array([n for n, _, _ in out]), bounds=bounds,
             mel=np.concatenate([m for _, m, _ in out]), targets=np.concatenate([t for _, _, t in out]))
    return out


def windows(mel: np.ndarray) -> np.ndarray:
    """float32 [T, PAST + 1 + FUTURE, N_MELS]: the input window of every frame (edges padded with silence)."""
    silence = np.full((1, N_MELS), np.log(LOG_FLOOR), np.float32)
    padded = np.concatenate([np.repeat(silence, PAST, 0), mel, np.repeat(silence, FUTURE, 0)])
    index = np.arange(len(mel))[:, None] + np.arange(PAST + 1 + FUTURE)[None, :]
    return padded[index]


def predict(model: nn.Module, mel: np.ndarray) -> np.ndarray:
    """float32 [T, K] predictions for every frame of one utterance."""
    with torch.no_grad():
        return model(torch.from_numpy(windows(mel))).numpy()


def jaw_correlation(model: nn.Module, clips: list[tuple[str, np.ndarray, np.ndarray]]) -> float:
    """Pearson correlation of predicted and true jawOpen over the concatenated clips."""
    jaw = MOUTH_NAMES.index("jawOpen")
    pred = np.concatenate([predict(model, m)[:, jaw] for _, m, _ in clips])
    true = np.concatenate([t[:, jaw] for _, _, t in clips])
    return float(np.corrcoef(pred, true)[0, 1])


def heldout_espeak() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The studio's SENTENCES in the default voice: never trained on."""
    clips = [espeak_clip(s) for s in SENTENCES]
    return [(c.name, log_mel_np(c.audio), c.targets) for c in clips]


def train(cfg: AudioTrainConfig, out: Path, cache: Path, *, progress: Callable[[str], None] | None = None,
          clock: Clock = MONOTONIC) -> dict[str, float]:
    """Train, export ONNX to `out` (with a .json of metrics beside it) and return the metrics. Progress lines
    (data, then the loss every 500 steps) go to `progress`; `clock` times the run (data_s, wall_s)."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)
    start = clock.now_s()
    data = build_dataset(cfg, cache, progress, clock=clock)
    data_s = clock.now_s() - start
    real = [d for d in data if d[0].startswith("asterisk:")]
    synth = [d for d in data if not d[0].startswith("asterisk:")]
    heldout_real = real[::20]
    train_set = [d for d in data if not any(d is h for h in heldout_real)]
    mel = np.concatenate([m for _, m, _ in train_set])
    targets = np.concatenate([t for _, _, t in train_set])
    # windows are gathered per batch from the padded clips (all windows at once would take ~1 GB)
    silence = np.full((1, N_MELS), np.log(LOG_FLOOR), np.float32)
    padded_clips, starts, offset = [], [], 0
    for _, m, _ in train_set:
        padded_clips.append(np.concatenate([np.repeat(silence, PAST, 0), m, np.repeat(silence, FUTURE, 0)]))
        starts.append(offset + np.arange(len(m)))
        offset += len(m) + PAST + FUTURE
    padded = torch.from_numpy(np.concatenate(padded_clips))
    start_index = torch.from_numpy(np.concatenate(starts))
    span = torch.arange(PAST + 1 + FUTURE)
    mean, std = mel.mean(axis=0), mel.std(axis=0) + 1e-3
    model = AudioMouthNet(mean, std, cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr * 0.05)
    rng = np.random.default_rng(cfg.seed + 1)
    weight = torch.ones(len(MOUTH_NAMES))
    weight[MOUTH_NAMES.index("jawOpen")] = 3.0
    y_t = torch.from_numpy(targets)
    for step in range(cfg.steps):
        idx = torch.from_numpy(rng.integers(0, len(y_t), cfg.batch))
        x, y = augment(padded[start_index[idx][:, None] + span], y_t[idx], cfg.augment, rng)
        loss = (((model(x) - y) ** 2) * weight).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None and (step % 500 == 0 or step == cfg.steps - 1):
            progress(f"step {step} loss {loss.item():.5f} {clock.now_s() - start:.0f} s")
    model.eval()
    metrics = {
        "lipsync_jaw_corr": jaw_correlation(model, heldout_espeak()),
        "jaw_corr_heldout_real": jaw_correlation(model, heldout_real),
        "jaw_corr_train_espeak": jaw_correlation(model, synth[:40]),
        "train_clips": float(len(train_set)),
        "train_real_minutes": float(sum(len(m) for n, m, _ in train_set if n.startswith("asterisk:")) / 6000),
        "train_espeak_minutes": float(sum(len(m) for n, m, _ in train_set if not n.startswith("asterisk:")) / 6000),
        "data_s": data_s,
        "wall_s": clock.now_s() - start,
    }
    export_onnx(model, out, cfg, metrics)
    return metrics


def export_onnx(model: nn.Module, out: Path, cfg: AudioTrainConfig, metrics: dict[str, float]) -> None:
    """ONNX "mel" [N, PAST+1+FUTURE, N_MELS] -> "mouth" [N, K]; the layout in the model's metadata."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, PAST + 1 + FUTURE, N_MELS)
    torch.onnx.export(model, (dummy,), str(out), input_names=["mel"], output_names=["mouth"],
                      dynamic_axes={"mel": {0: "batch"}, "mouth": {0: "batch"}}, opset_version=17, dynamo=False)
    proto = onnx.load(str(out))
    meta = {"past": str(PAST), "future": str(FUTURE), "names": ",".join(MOUTH_NAMES), "sample_rate": str(SAMPLE_RATE),
            "hop": str(HOP), "window": str(WINDOW), "n_mels": str(N_MELS)}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = "codecav audio driver: log-mel window -> ARKit mouth weights (codecav.training.audio_train)"
    onnx.save(proto, str(out))
    record = {"config": asdict(cfg), "metrics": metrics, "command": f"codecav driver train-audio --out {out}"}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")

