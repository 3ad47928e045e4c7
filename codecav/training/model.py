"""The PiCA avatar model and the DAM baseline in torch (the `train` extra): a DAM-style VAE encoder with
named latent segments, a convolutional decoder to geometry and a UV map, and PiCA's per-pixel MLP.

    encoder:  per segment (face: all of the head, eyes, mouth) its region's mesh offsets and its region of the
              average texture -> mean and log-variance of that segment's part of the code
    decoder:  code (+ view direction) -> geometry = mean mesh + linear(code)
                                      -> UV map: fc -> 8x8 -> conv stages (x2 each) -> head conv,
                                         bilinearly resized to the atlas size, plus an untied per-texel bias
    PiCA:     the UV map holds C features; per texel an MLP of (features, the texel's own view direction,
              UV encoding) gives RGB (sigmoid), the same MLP the GLSL renderer runs per pixel
    DAM:      the UV map is the RGB texture itself (logits), decoded for the global view direction
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MODEL_KINDS = ("pica", "dam")
"""ModelConfig.kind values."""

GEOMETRY_SCALE = 100.0
"""Mesh offsets enter the encoder in centimetres."""
TEXTURE_SCALE = 4.0
"""Average-texture residuals (0..1 units) are scaled by this in the encoder."""
LOGIT_CLIP = 0.02
"""Initial RGB logits are of colours clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP]."""


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a trainable avatar model; saved in checkpoints and package provenance."""

    kind: str = "pica"
    """'pica' (feature map + per-pixel MLP) or 'dam' (full RGB texture)."""
    segments: tuple[tuple[str, int], ...] = (("face", 24), ("eyes", 12), ("mouth", 28))
    """Latent segments (name, size) in code order; 'eyes' / 'mouth' are encoded from those regions only."""
    feature_channels: int = 8
    """PiCA feature channels C (DAM always decodes 3)."""
    texture_size: int = 256
    """Atlas side T of the decoded UV map (the capture's texture size)."""
    decoder_channels: tuple[int, ...] = (64, 48, 32, 24, 16)
    """Channels at 8x8, then after each x2 stage; the last stage's resolution is the conv output size."""
    dam_extra_stage: int = 0
    """DAM only: channels of one more x2 conv stage before its RGB head (0: none, the same trunk as PiCA, so
    both cost the same to train; the untied bias is at full atlas resolution either way)."""
    mlp_hidden: tuple[int, ...] = (16, 16)
    """PiCA per-pixel MLP hidden widths (relu)."""
    uv_frequencies: int = 2
    """UV positional-encoding frequencies L of the per-pixel MLP."""
    encoder_hidden: int = 64
    """Width of each segment encoder's geometry and texture branches."""
    encoder_vertices: int = 600
    """At most this many (evenly strided) region vertices feed each segment's geometry branch."""

    @property
    def latent_dim(self) -> int:
        """Total code length D."""
        return sum(size for _, size in self.segments)

    def to_json(self) -> dict[str, object]:
        """Plain JSON-able dict."""
        return {"kind": self.kind, "segments": [list(s) for s in self.segments],
                "feature_channels": self.feature_channels, "texture_size": self.texture_size,
                "decoder_channels": list(self.decoder_channels), "dam_extra_stage": self.dam_extra_stage,
                "mlp_hidden": list(self.mlp_hidden), "uv_frequencies": self.uv_frequencies,
                "encoder_hidden": self.encoder_hidden, "encoder_vertices": self.encoder_vertices}

    @staticmethod
    def from_json(obj: dict[str, object]) -> ModelConfig:
        """Inverse of to_json."""
        o = dict(obj)
        return ModelConfig(
            kind=str(o["kind"]), segments=tuple((str(n), int(s)) for n, s in o["segments"]),  # type: ignore[attr-defined]
            feature_channels=int(o["feature_channels"]), texture_size=int(o["texture_size"]),  # type: ignore[call-overload]
            decoder_channels=tuple(int(c) for c in o["decoder_channels"]),  # type: ignore[attr-defined]
            dam_extra_stage=int(o["dam_extra_stage"]),  # type: ignore[call-overload]
            mlp_hidden=tuple(int(c) for c in o["mlp_hidden"]),  # type: ignore[attr-defined]
            uv_frequencies=int(o["uv_frequencies"]), encoder_hidden=int(o["encoder_hidden"]),  # type: ignore[call-overload]
            encoder_vertices=int(o["encoder_vertices"]),  # type: ignore[call-overload]
        )


def uv_encoding(uv: torch.Tensor, frequencies: int) -> torch.Tensor:
    """[N, 4L]: per k < L sin(2^k pi u), sin(2^k pi v), cos(2^k pi u), cos(2^k pi v) (the package order)."""
    parts = []
    for k in range(frequencies):
        a = (2.0**k) * math.pi * uv
        parts += [torch.sin(a), torch.cos(a)]
    return torch.cat(parts, dim=-1) if parts else uv[..., :0]


class SegmentEncoder(nn.Module):
    """One latent segment from its region: mesh offsets (strided vertices) and the masked average texture."""

    vertices: torch.Tensor
    texture_mask: torch.Tensor

    def __init__(self, vertices: np.ndarray, texture_mask: np.ndarray, size: int, hidden: int) -> None:
        """`vertices` int [n] geometry vertices read; `texture_mask` float [E, E] the region's texels."""
        super().__init__()
        self.register_buffer("vertices", torch.as_tensor(vertices, dtype=torch.long))
        self.register_buffer("texture_mask", torch.as_tensor(texture_mask, dtype=torch.float32)[None, None])
        self.geometry = nn.Linear(3 * len(vertices), hidden)
        self.texture = nn.Sequential(
            nn.Conv2d(3, 16, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 32, 4, 2, 1), nn.LeakyReLU(0.2),
        )
        side = texture_mask.shape[0] // 16
        self.texture_fc = nn.Linear(32 * side * side, hidden)
        self.head = nn.Linear(2 * hidden, 2 * size)
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.weight.mul_(0.1)

    def forward(self, offsets: torch.Tensor, texture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) [B, size] from offsets [B, V, 3] (metres) and texture residuals [B, 3, E, E]."""
        geo = offsets[:, self.vertices].reshape(offsets.shape[0], -1) * GEOMETRY_SCALE
        tex = self.texture(texture * TEXTURE_SCALE * self.texture_mask).flatten(1)
        h = torch.cat([F.leaky_relu(self.geometry(geo), 0.2), F.leaky_relu(self.texture_fc(tex), 0.2)], dim=1)
        mean, logvar = self.head(h).chunk(2, dim=1)
        return mean, logvar - 4.0  # start with small posterior noise


class Encoder(nn.Module):
    """The DAM-style VAE encoder; the code is the concatenation of the segment codes, in config order."""

    def __init__(self, config: ModelConfig, regions: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> None:
        """`regions`: segment name -> geometry vertices; `masks`: name -> [E, E] texel mask ('face' for others)."""
        super().__init__()
        parts = []
        for name, size in config.segments:
            verts = regions.get(name, regions["face"])
            stride = max(1, math.ceil(len(verts) / config.encoder_vertices))
            parts.append(SegmentEncoder(verts[::stride], masks.get(name, masks["face"]), size, config.encoder_hidden))
        self.parts = nn.ModuleList(parts)

    def forward(self, offsets: torch.Tensor, texture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) [B, D]."""
        outs = [part(offsets, texture) for part in self.parts]
        return torch.cat([m for m, _ in outs], dim=1), torch.cat([v for _, v in outs], dim=1)


class UvDecoder(nn.Module):
    """code (+ view) -> [B, out, T, T]: fc to 8x8, x2 stages (bilinear + conv 3x3 + leaky relu), a head conv,
    a bilinear resize to the atlas size and an untied per-texel bias."""

    def __init__(self, in_size: int, channels: tuple[int, ...], out_channels: int, size: int) -> None:
        """`channels[0]` at 8x8, one x2 stage per further entry."""
        super().__init__()
        self.base = channels[0]
        self.fc = nn.Linear(in_size, channels[0] * 64)
        self.stages = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(channels[:-1], channels[1:],
                                                                                strict=True))
        self.head = nn.Conv2d(channels[-1], out_channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # conv bias exists (bias=True)
        self.size = size
        self.bias = nn.Parameter(torch.zeros(1, out_channels, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, out, T, T]."""
        h = F.leaky_relu(self.fc(x), 0.2).view(-1, self.base, 8, 8)
        for conv in self.stages:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)), 0.2)
        out = self.head(h)
        if out.shape[-1] != self.size:
            out = F.interpolate(out, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return out + self.bias


class PixelMlp(nn.Module):
    """PiCA's per-pixel MLP: (features, view direction, UV encoding) -> RGB logits, relu hidden layers."""

    def __init__(self, in_size: int, hidden: tuple[int, ...]) -> None:
        """Layers in_size -> hidden... -> 3."""
        super().__init__()
        sizes = [in_size, *hidden, 3]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def init_pass_through(self, channels: int = 3) -> None:
        """Make the first `channels` inputs reach the output unchanged through relu pairs (x = relu(x) -
        relu(-x)), the other units small random: training starts from `logits = features[:3]`."""
        with torch.no_grad():
            for i, layer in enumerate(self.linear_layers()):
                layer.weight.mul_(0.1)
                layer.bias.zero_()
                if i == 0:
                    layer.weight[:channels].zero_()
                    layer.weight[channels:2 * channels].zero_()
                    for c in range(channels):
                        layer.weight[c, c], layer.weight[channels + c, c] = 1.0, -1.0
                elif i < len(self.layers) - 1:
                    layer.weight[: 2 * channels].zero_()
                    layer.weight[:, : 2 * channels].zero_()
                    for c in range(2 * channels):
                        layer.weight[c, c] = 1.0
                else:
                    layer.weight.zero_()
                    for c in range(channels):
                        layer.weight[c, c], layer.weight[c, channels + c] = 1.0, -1.0

    def linear_layers(self) -> list[nn.Linear]:
        """The layers, first to last."""
        return [layer for layer in self.layers if isinstance(layer, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., 3] logits."""
        layers = self.linear_layers()
        for layer in layers[:-1]:
            x = F.relu(layer(x))
        out: torch.Tensor = layers[-1](x)
        return out


class AvatarModel(nn.Module):
    """Encoder + decoder (+ per-pixel MLP for PiCA) of one avatar."""

    vert_mean: torch.Tensor

    def __init__(self, config: ModelConfig, vert_mean: np.ndarray, regions: dict[str, np.ndarray],
                 masks: dict[str, np.ndarray], mean_texture: np.ndarray) -> None:
        """`mean_texture` float [T, T, 3] in 0..1 initialises the decoder so training starts at the mean colour."""
        super().__init__()
        if config.kind not in MODEL_KINDS:
            raise ValueError(f"model kind {config.kind!r} is not one of {MODEL_KINDS}")
        if min(config.mlp_hidden, default=0) < 6:
            raise ValueError(f"mlp_hidden {config.mlp_hidden} needs every layer >= 6 wide (pass-through init)")
        self.config = config
        dim = config.latent_dim
        self.encoder = Encoder(config, regions, masks)
        self.register_buffer("vert_mean", torch.as_tensor(vert_mean, dtype=torch.float32))
        self.geometry = nn.Linear(dim, vert_mean.size)
        nn.init.zeros_(self.geometry.weight)
        nn.init.zeros_(self.geometry.bias)
        logits = torch.logit(torch.as_tensor(mean_texture, dtype=torch.float32).clamp(LOGIT_CLIP, 1 - LOGIT_CLIP))
        if config.kind == "pica":
            self.uv = UvDecoder(dim + 3, config.decoder_channels, config.feature_channels, config.texture_size)
            self.mlp: PixelMlp | None = PixelMlp(config.feature_channels + 3 + 4 * config.uv_frequencies,
                                                 config.mlp_hidden)
            self.mlp.init_pass_through()
        else:
            extra = (config.dam_extra_stage,) if config.dam_extra_stage else ()
            self.uv = UvDecoder(dim + 3, (*config.decoder_channels, *extra), 3, config.texture_size)
            self.mlp = None
        with torch.no_grad():
            self.uv.bias[0, :3] = logits.permute(2, 0, 1)

    def decode_geometry(self, code: torch.Tensor) -> torch.Tensor:
        """[B, V, 3] head-space vertices (metres)."""
        return self.vert_mean + self.geometry(code).view(code.shape[0], -1, 3) * 0.01

    def decode_uv(self, code: torch.Tensor, view_dir: torch.Tensor) -> torch.Tensor:
        """[B, C, T, T]: PiCA features or DAM RGB logits."""
        out: torch.Tensor = self.uv(torch.cat([code, view_dir], dim=1))
        return out

    def texel_logits(self, uv_map: torch.Tensor, texel_index: torch.Tensor, texel_uv: torch.Tensor,
                     texel_view: torch.Tensor) -> torch.Tensor:
        """[B, N, 3] RGB logits at texels (flat indices [N], UVs [N, 2], unit view directions [B, N, 3])."""
        values = uv_map.flatten(2)[:, :, texel_index].transpose(1, 2)  # [B, N, C]
        if self.mlp is None:
            return values
        enc = uv_encoding(texel_uv, self.config.uv_frequencies).expand(values.shape[0], -1, -1)
        return self.mlp(torch.cat([values, texel_view, enc], dim=2))
