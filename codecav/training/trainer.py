"""Training loop of the PiCA / DAM avatar model: UV-space photometric loss against each camera's unwrapped
texture (visibility-masked, down-weighted at grazing angles), geometry L2 and the VAE's KL term; Adam with
a cosine schedule, checkpoints and resume. Reports progress through a callback (library code never prints)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from codecav.clock import MONOTONIC, Clock
from codecav.training.dataset import ENCODER_TEXTURE_SIZE, CaptureData, fill_from_neighbours, region_vertices
from codecav.training.errors import CheckpointError, TrainingError
from codecav.training.model import AvatarModel, ModelConfig

GRAZING_COS = 0.3
"""Texels seen at a cosine below this get a linearly smaller loss weight (their unwrapped colour smears)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved in checkpoints and package provenance."""

    steps: int = 3000
    """Optimizer steps."""
    batch: int = 4
    """(frame, camera) pairs per step."""
    lr: float = 2e-3
    """Peak Adam learning rate (cosine decay to 5% of it, after a short warm-up)."""
    geometry_weight: float = 1.0
    """Weight of the mean squared vertex error in cm^2."""
    kl_weight: float = 1e-5
    """Weight of the KL divergence (summed over the code, mean over the batch)."""
    clip_grad_norm: float = 1.0
    """Scale each step's gradient down to this global norm when it is larger (0: never). Typical norms are
    0.003-0.3; without clipping a rare large step at the peak learning rate can run away (RESULTS.md, session 14)."""
    seed: int = 0
    """Seed of initialisation and sampling."""
    threads: int = 2
    """torch intra-op threads."""
    checkpoint_every: int = 500
    """Save a checkpoint every this many steps (and at the end)."""


@dataclass(frozen=True)
class TrainProgress:
    """One progress report."""

    step: int
    """Steps done."""
    steps: int
    """Steps in all."""
    loss: float
    """Mean total loss since the previous report."""
    photometric_mse: float
    """Mean visible-texel squared error (0..1 colour units) since the previous report."""
    geometry_mm: float
    """RMS vertex error in millimetres since the previous report."""
    seconds: float
    """Wall time since training (re)started."""
    grad_norm_max: float = 0.0
    """Largest global gradient norm (before clipping) since the previous report."""


@dataclass
class TrainResult:
    """A trained model and its history."""

    model: AvatarModel
    """The trained model (eval mode)."""
    model_config: ModelConfig
    """Its configuration."""
    train_config: TrainConfig
    """How it was trained."""
    history: list[TrainProgress] = field(default_factory=list)
    """Progress reports in order."""
    wall_time_s: float = 0.0
    """Training wall time, summed over resumed runs."""


def region_masks(data: CaptureData, regions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 [E, E] per region: encoder-resolution texels whose triangle touches the region's vertices."""
    size, small = data.texels.size, ENCODER_TEXTURE_SIZE
    out = {}
    for name, verts in regions.items():
        member = np.zeros(len(data.topology.rest_positions), bool)
        member[verts] = True
        full = np.zeros(size * size, np.float32)
        full[data.texels.index] = member[data.texels.vertices].any(axis=1)
        k = size // small
        out[name] = full.reshape(small, k, small, k).max(axis=(1, 3))
    return out


def mean_texture(data: CaptureData) -> np.ndarray:
    """float32 [T, T, 3] in 0..1: per covered texel the mean colour over training frames and training cameras
    that saw it; other texels filled from seen neighbours (24 rings), the rest with the mean seen colour."""
    cams = [data.loaded_cameras.index(c) for c in data.split.train_cameras]
    total = np.zeros(data.textures.shape[2:], np.float64)
    count = np.zeros((data.textures.shape[2], 1), np.int64)
    for frame in data.split.train_frames:  # one frame at a time: the whole array in float would not fit
        tex = data.textures[frame, cams]
        total += tex.sum(axis=0, dtype=np.float64)  # unseen texels are 0, so they add nothing
        count += (tex.max(axis=-1, keepdims=True) > 0).sum(axis=0)
    size = data.texels.size
    out = np.zeros((size * size, 3), np.float32)
    out[data.texels.index] = total / np.maximum(count, 1) / 255.0
    seen = np.zeros(size * size, bool)
    seen[data.texels.index[count[:, 0] > 0]] = True
    # Texels no training camera saw (back of the head, gutters) start from their seen neighbours' colour,
    # then the mean skin colour, instead of black.
    filled, reached = fill_from_neighbours(out.reshape(size, size, 3).transpose(2, 0, 1), seen.reshape(size, size), 24)
    filled[:, ~reached] = out[seen].mean(axis=0)[:, None] if seen.any() else 0.5
    return filled.transpose(1, 2, 0).astype(np.float32)


def build_model(data: CaptureData, config: ModelConfig) -> AvatarModel:
    """A fresh model for `data` (regions, masks, mean mesh and texture from the training split)."""
    regions = region_vertices(data.topology)
    return AvatarModel(config, data.vert_mean, regions, region_masks(data, regions), mean_texture(data))


class _Batches:
    """Random (frame, camera) pairs from the training split, as torch tensors."""

    def __init__(self, data: CaptureData, rng: np.random.Generator) -> None:
        self.data = data
        self.rng = rng
        self.frames = np.asarray(data.split.train_frames)
        self.cameras = np.array([data.loaded_cameras.index(c) for c in data.split.train_cameras])
        self.texel_index = torch.as_tensor(data.texels.index)
        self.texel_uv = torch.as_tensor(data.texels.uv)
        self.vertices = torch.as_tensor(data.texels.vertices)
        self.bary = torch.as_tensor(data.texels.barycentric)
        self.faces = torch.as_tensor(data.topology.mesh.vertex_index, dtype=torch.long)[
            torch.as_tensor(data.topology.mesh.faces, dtype=torch.long)]

    def draw(self, batch: int) -> dict[str, torch.Tensor]:
        d = self.data
        frames = self.rng.choice(self.frames, batch)
        cams = self.rng.choice(self.cameras, batch)
        meshes = torch.as_tensor(d.meshes[frames])
        cam_head = torch.as_tensor(d.camera_in_head(frames, cams))
        points = (meshes[:, self.vertices] * self.bary[None, :, :, None]).sum(dim=2)  # [B, N, 3]
        to_cam = cam_head[:, None] - points
        view = to_cam / to_cam.norm(dim=2, keepdim=True)
        normals = _vertex_normals(meshes, self.faces)
        normal = F.normalize((normals[:, self.vertices] * self.bary[None, :, :, None]).sum(dim=2), dim=2)
        cosine = (normal * view).sum(dim=2).abs()
        target = torch.as_tensor(d.textures[frames, cams]).float() / 255.0
        seen = (target.sum(dim=2) > 0).float()
        weight = seen * (cosine / GRAZING_COS).clamp(max=1.0)
        global_view = cam_head / cam_head.norm(dim=1, keepdim=True)
        return {"frames": torch.as_tensor(frames), "meshes": meshes, "offsets": meshes - torch.as_tensor(d.vert_mean),
                "enc_tex": torch.as_tensor(d.encoder_textures[frames]), "view": view, "target": target,
                "weight": weight, "global_view": global_view}


def _vertex_normals(meshes: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """[B, V, 3] area-weighted vertex normals (unnormalised) of meshes [B, V, 3] with geometry faces [F, 3]."""
    p = meshes[:, faces]  # [B, F, 3, 3]
    n = torch.linalg.cross(p[:, :, 1] - p[:, :, 0], p[:, :, 2] - p[:, :, 0], dim=2)
    out = torch.zeros_like(meshes)
    for k in range(3):
        out.index_add_(1, faces[:, k], n)
    return out


def losses(model: AvatarModel, batch: dict[str, torch.Tensor], batches: _Batches, config: TrainConfig,
           sample: bool = True, codes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Total loss and its parts for one batch (`codes` [F, D] per capture frame replace the encoder's)."""
    mean, logvar = model.encoder(batch["offsets"], batch["enc_tex"])
    code = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
    if codes is not None:
        code = codes[batch["frames"]]
    geometry = model.decode_geometry(code)
    uv_map = model.decode_uv(code, batch["global_view"])
    logits = model.texel_logits(uv_map, batches.texel_index, batches.texel_uv, batch["view"])
    rgb = torch.sigmoid(logits)
    w = batch["weight"][..., None]
    photometric = ((rgb - batch["target"]) ** 2 * w).sum() / (w.sum() * 3).clamp(min=1.0)
    geo = ((geometry - batch["meshes"]) * 100.0).pow(2).mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
    total = photometric + config.geometry_weight * geo + config.kl_weight * kl
    return {"total": total, "photometric": photometric, "geometry": geo, "kl": kl}


def _lr_at(step: int, config: TrainConfig) -> float:
    warm = min(100, config.steps // 10 + 1)
    if step < warm:
        return config.lr * (step + 1) / warm
    t = (step - warm) / max(1, config.steps - warm)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def save_checkpoint(path: Path, model: AvatarModel, optimizer: torch.optim.Optimizer, step: int,
                    model_config: ModelConfig, train_config: TrainConfig, rng: np.random.Generator,
                    wall_time_s: float, history: list[TrainProgress]) -> None:
    """Write a checkpoint atomically (model, optimizer, step, configs, sampler state, history)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "model_config": model_config.to_json(), "train_config": asdict(train_config),
                "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "wall_time_s": wall_time_s,
                "history": [asdict(h) for h in history]}, tmp)
    tmp.replace(path)


def train(data: CaptureData, model_config: ModelConfig, config: TrainConfig, *, checkpoint: Path | None = None,
          resume: bool = False, progress: Callable[[TrainProgress], None] | None = None,
          report_every: int = 50, clock: Clock = MONOTONIC) -> TrainResult:
    """Train (or resume from `checkpoint`) and return the model; checkpoints go to `checkpoint` if given.
    `clock` times the run (wall time in progress reports and checkpoints)."""
    if model_config.texture_size != data.texels.size:
        raise TrainingError(f"model texture size {model_config.texture_size} differs from the capture's "
                            f"{data.texels.size}; build the model for the capture's textures")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_model(data, model_config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start, wall, history = 0, 0.0, []
    if resume:
        if checkpoint is None or not checkpoint.is_file():
            raise CheckpointError(f"--resume needs a checkpoint, but {checkpoint} does not exist; drop --resume")
        state = torch.load(checkpoint, weights_only=False)
        if state["model_config"] != model_config.to_json():
            raise CheckpointError(f"{checkpoint}: was trained with another model configuration "
                                  f"({state['model_config']['kind']}); use a fresh --out or the same options")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, wall = int(state["step"]), float(state["wall_time_s"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        history = [TrainProgress(**h) for h in state["history"]]
    batches = _Batches(data, rng)
    model.train()
    t0 = clock.now_s()
    sums = np.zeros(4)
    norm_max = 0.0
    clip = config.clip_grad_norm if config.clip_grad_norm > 0 else math.inf
    for step in range(start, config.steps):
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, config)
        parts = losses(model, batches.draw(config.batch), batches, config)
        optimizer.zero_grad(set_to_none=True)
        parts["total"].backward()
        norm_max = max(norm_max, float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip)))
        optimizer.step()
        sums += [1, float(parts["total"].detach()), float(parts["photometric"].detach()),
                 float(parts["geometry"].detach())]
        done = step + 1
        if done % report_every == 0 or done == config.steps:
            n = sums[0]
            report = TrainProgress(done, config.steps, sums[1] / n, sums[2] / n, math.sqrt(sums[3] / n) * 10.0,
                                   wall + clock.now_s() - t0, norm_max)
            history.append(report)
            sums[:] = 0
            norm_max = 0.0
            if progress is not None:
                progress(report)
        if checkpoint is not None and (done % config.checkpoint_every == 0 or done == config.steps):
            save_checkpoint(checkpoint, model, optimizer, done, model_config, config, rng,
                            wall + clock.now_s() - t0, history)
    model.eval()
    return TrainResult(model, model_config, config, history, wall + clock.now_s() - t0)
