"""A procedural avatar for tests and benchmarks of the renderers: the one procedural head of
codecav.assets.synthetic.head (mesh, smooth feature map, calibrated random MLP) at rest, as the DecodedFrame
a neural decoder would give. No ONNX, no trained weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp
from codecav.assets.synthetic.head import HeadConfig, procedural_head
from codecav.decoders.base import DecodedFrame


@dataclass(frozen=True)
class ProceduralAvatar:
    """Everything a renderer needs for one avatar, plus one decoded frame."""

    mesh: MeshTopology
    """Head mesh with a UV seam at u = 0/1 (render vertices split there)."""
    mlp: PixelMlp
    """Calibrated random per-pixel MLP."""
    feature_info: FeatureMapInfo
    """Feature-map shape."""
    frame: DecodedFrame
    """Rest geometry [V, 3] of the head and its smooth feature map [H, W, C]."""


def procedural_avatar(
    seed: int = 0,
    *,
    channels: int = 8,
    feature_size: int = 64,
    hidden: tuple[int, ...] = (16, 16),
    activation: str = "relu",
    uv_frequencies: int = 2,
    rings: int = 16,
    segments: int = 24,
) -> ProceduralAvatar:
    """A reproducible random avatar (see module docstring), the head drawn from seed `seed`."""
    config = HeadConfig(channels, feature_size, hidden, activation, uv_frequencies, (rings, segments))
    head = procedural_head(np.random.default_rng(seed), config)
    features = np.ascontiguousarray(head.features.transpose(1, 2, 0))  # [C, H, W] -> the frame's [H, W, C]
    return ProceduralAvatar(head.mesh.topology, head.mlp, head.feature_info, DecodedFrame(head.mesh.rest, features))
