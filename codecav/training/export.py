"""Trained model -> avatar package v1: decoder.onnx (torch.onnx.export, opset 17), the per-pixel MLP weights
(PiCA's trained MLP, or DAM's exact pass-through MLP over RGB logits), the capture's mesh topology, the
latent layout, provenance, and encoders/expression.onnx (ARKit-52 weights -> code) regressed on the capture's
ground-truth expressions."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from codecav.assets.onnx_compact import compact_package
from codecav.assets.package import (
    FORMAT_VERSION,
    AvatarManifest,
    AvatarPackage,
    FeatureMapInfo,
    LatentLayout,
    LatentSegment,
    MeshInfo,
    MeshTopology,
    PixelMlp,
    PixelMlpInfo,
)
from codecav.assets.writer import package_member_bytes, sealed_manifest
from codecav.training.dataset import CaptureData, fill_from_neighbours
from codecav.training.errors import TrainingError
from codecav.training.model import AvatarModel

ONNX_OPSET = 17
"""Opset of exported models (onnxruntime runs it; the synthetic decoders use it too)."""
EXPRESSION_MEMBER = "encoders/expression.onnx"
"""Package member of the ARKit-52 -> code encoder; input 'arkit' float32 [N, 52], output 'code' float32 [N, D]."""
DAM_FEATURE_CHANNELS = 4
"""DAM packages carry features (R, G, B logits, 0)."""


class DecoderGraph(nn.Module):
    """The exported decoder: (latent [1, D], view_dir [1, 3]) -> (geometry [1, V, 3], features [1, C, T, T])."""

    def __init__(self, model: AvatarModel) -> None:
        """Wrap a trained model (PiCA: features as decoded; DAM: RGB logits padded with a zero channel)."""
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor, view_dir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Geometry and features."""
        geometry = self.model.decode_geometry(latent)
        features = self.model.decode_uv(latent, view_dir)
        if self.model.mlp is None:
            features = F.pad(features, (0, 0, 0, 0, 0, DAM_FEATURE_CHANNELS - features.shape[1]))
        return geometry, features


def _onnx_bytes(module: nn.Module, args: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str],
                dynamic: dict[str, dict[int, str]] | None = None) -> bytes:
    buf = io.BytesIO()
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about the static resize branch.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, input_names=inputs,  # type: ignore[arg-type]  # legacy exporter takes files
                          output_names=outputs, opset_version=ONNX_OPSET, dynamo=False, dynamic_axes=dynamic,
                          do_constant_folding=True)
    return buf.getvalue()


def decoder_onnx(model: AvatarModel) -> bytes:
    """Serialized ONNX decoder of `model` (batch 1)."""
    dim = model.config.latent_dim
    return _onnx_bytes(DecoderGraph(model), (torch.zeros(1, dim), torch.tensor([[0.0, 0.0, 1.0]])),
                       ["latent", "view_dir"], ["geometry", "features"])


def pixel_mlp(model: AvatarModel) -> PixelMlp:
    """PiCA: the trained MLP's weights; DAM: relu hidden 6 with W1 = [I; -I] on the 3 logit channels and
    W2 = [I, -I], so rgb = sigmoid(logit) exactly (no UV encoding)."""
    if model.mlp is None:
        w1 = np.zeros((6, DAM_FEATURE_CHANNELS + 3), np.float32)
        w1[:3, :3], w1[3:, :3] = np.eye(3), -np.eye(3)
        w2 = np.concatenate([np.eye(3), -np.eye(3)], axis=1).astype(np.float32)
        return PixelMlp((w1, w2), (np.zeros(6, np.float32), np.zeros(3, np.float32)), "relu", 0)
    layers = model.mlp.linear_layers()
    return PixelMlp(tuple(layer.weight.detach().numpy().astype(np.float32) for layer in layers),
                    tuple(layer.bias.detach().numpy().astype(np.float32) for layer in layers), "relu",
                    model.config.uv_frequencies)


class ExpressionEncoder(nn.Module):
    """ARKit-52 weights -> latent code: a linear map plus a small MLP residual."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        """Outputs `dim` entries."""
        super().__init__()
        self.linear = nn.Linear(52, dim)
        self.mlp = nn.Sequential(nn.Linear(52, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, dim))

    def forward(self, arkit: torch.Tensor) -> torch.Tensor:
        """[N, D] codes."""
        out: torch.Tensor = self.linear(arkit) + self.mlp(arkit)
        return out


@dataclass(frozen=True)
class ExpressionFit:
    """The regressed expression encoder and how well it fits."""

    module: ExpressionEncoder
    """The trained encoder."""
    train_r2: float
    """Fraction of code variance explained on the training frames."""
    heldout_r2: float | None
    """The same on held-out frames (None when there are none)."""


def encode_frames(model: AvatarModel, data: CaptureData, frames: np.ndarray) -> np.ndarray:
    """float32 [N, D] encoder means of capture frames."""
    with torch.no_grad():
        mean, _ = model.encoder(torch.as_tensor(data.meshes[frames] - data.vert_mean),
                                torch.as_tensor(data.encoder_textures[frames]))
    out: np.ndarray = mean.numpy()
    return out


def fit_expression_encoder(model: AvatarModel, data: CaptureData, steps: int = 1500, seed: int = 0) -> ExpressionFit:
    """Regress ARKit-52 weights onto the encoder's codes of the training frames (full-batch Adam, weight decay)."""
    if data.expressions is None:
        raise TrainingError(f"{data.root}: has no expressions.npy (ARKit ground truth); the expression encoder "
                            "needs a studio capture")
    torch.manual_seed(seed)
    train_idx = np.asarray(data.split.train_frames)
    codes = torch.as_tensor(encode_frames(model, data, train_idx))
    arkit = torch.as_tensor(data.expressions[train_idx])
    module = ExpressionEncoder(codes.shape[1])
    optim = torch.optim.AdamW(module.parameters(), lr=3e-3, weight_decay=1e-3)
    for step in range(steps):
        for group in optim.param_groups:
            group["lr"] = 3e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        loss = F.mse_loss(module(arkit), codes)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    module.eval()

    def r2(frames: np.ndarray) -> float:
        target = encode_frames(model, data, frames)
        with torch.no_grad():
            pred = module(torch.as_tensor(data.expressions[frames])).numpy()  # type: ignore[index]
        return float(1.0 - ((pred - target) ** 2).sum() / max(((target - target.mean(0)) ** 2).sum(), 1e-12))

    held = np.asarray(data.split.heldout_frames)
    return ExpressionFit(module, r2(train_idx), r2(held) if len(held) > 1 else None)


def expression_onnx(module: ExpressionEncoder) -> bytes:
    """Serialized encoders/expression.onnx: 'arkit' float32 [N, 52] -> 'code' float32 [N, D]."""
    return _onnx_bytes(module, (torch.zeros(1, 52),), ["arkit"], ["code"], {"arkit": {0: "N"}, "code": {0: "N"}})


def fill_gutters(model: AvatarModel, texel_index: np.ndarray, iterations: int = 6) -> None:
    """Copy the untied bias of covered texels into the `iterations`-texel gutter around each UV island (in
    place), so bilinear lookups at island borders never blend in texels training never touched."""
    bias = model.uv.bias.detach()[0].numpy()  # [C, T, T]
    size = bias.shape[-1]
    covered = np.zeros(size * size, bool)
    covered[texel_index] = True
    bias = fill_from_neighbours(bias, covered.reshape(size, size), iterations)[0].astype(np.float32)
    with torch.no_grad():
        model.uv.bias[0] = torch.as_tensor(bias)


def two_sided(mesh: MeshTopology) -> MeshTopology:
    """The mesh with every triangle also wound the other way, so back faces draw like the studio's
    (which renders without culling: the inside of the neck, mouth and eyelids is visible)."""
    faces = np.asarray(mesh.faces, np.int32)
    return replace(mesh, faces=np.ascontiguousarray(np.concatenate([faces, faces[:, ::-1]])))


def build_package(model: AvatarModel, data: CaptureData, *, avatar_id: str, name: str,
                  provenance: dict[str, Any], expression: ExpressionEncoder | None) -> AvatarPackage:
    """The avatar package of a trained model (manifest sealed with member hashes): gutters filled, mesh
    two-sided."""
    cfg = model.config
    fill_gutters(model, data.texels.index)
    mesh = two_sided(data.topology.mesh)
    mlp = pixel_mlp(model)
    channels = cfg.feature_channels if model.mlp is not None else DAM_FEATURE_CHANNELS
    topo = data.topology
    manifest = AvatarManifest(
        format_version=FORMAT_VERSION, avatar_id=avatar_id, name=name,
        latent=LatentLayout(tuple(LatentSegment(n, s) for n, s in cfg.segments)),
        mesh=MeshInfo(len(topo.rest_positions), len(mesh.uv), len(mesh.faces)),
        feature_map=FeatureMapInfo(channels, cfg.texture_size, cfg.texture_size),
        pixel_mlp=PixelMlpInfo(tuple(int(w.shape[0]) for w in mlp.weights[:-1]), mlp.activation,
                               mlp.uv_frequencies),
        members={}, provenance=provenance,
    )
    encoders = {EXPRESSION_MEMBER: expression_onnx(expression)} if expression is not None else {}
    package = AvatarPackage(manifest=manifest, mesh=mesh, pixel_mlp=mlp, decoder_onnx=decoder_onnx(model),
                            encoders_onnx=encoders, source=f"<trained {avatar_id}>")
    sealed = replace(package, manifest=sealed_manifest(package, package_member_bytes(package)))
    return compact_package(sealed)[0]  # large weights as int8 rows / float16, sealed again
