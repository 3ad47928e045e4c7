"""Random-weight plumbing avatars: the procedural head of codecav.assets.synthetic.head (a head-sized
ellipsoid, smooth features, a pixel MLP with seeded random weights calibrated so the shaded head is smooth,
coloured and clearly non-uniform) plus an ONNX conv decoder and, optionally, an expression encoder. They are
untrained (provenance kind 'synthetic-random') and only exercise the pipeline; they do not look like a person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.assets.package import (
    ACTIVATIONS,
    FORMAT_VERSION,
    AvatarManifest,
    AvatarPackage,
    LatentLayout,
    LatentSegment,
    MeshInfo,
    PixelMlpInfo,
)
from codecav.assets.synthetic.head import EYES, MOUTH, HeadConfig, HeadMesh, blobs, procedural_head
from codecav.assets.synthetic.onnx_graph import DecoderWeights, decoder_model, expression_encoder_model
from codecav.assets.writer import package_member_bytes, sealed_manifest

SYNTHETIC_KIND = "synthetic-random"
"""provenance['kind'] of every avatar built here."""
EXPRESSION_ENCODER_MEMBER = "encoders/expression.onnx"
"""Member of the ARKit-52 -> code expression encoder ("arkit" [N, 52] -> "code" [N, D])."""
DEFAULT_SEGMENTS = (("face", 32), ("eyes", 8), ("mouth", 16))
"""Latent layout of synthetic avatars: (name, size) in code order."""
GEOMETRY_OFFSET_M = 0.006
"""Largest per-vertex norm of the latent -> offset columns; codes ~ N(0, 0.5^2) move vertices a few mm."""
VIEW_OFFSET_M = 0.001
"""Largest view-dependent vertex offset per view-direction axis."""
DETAIL_GAIN = 0.3
"""Scale of the latent-dependent feature detail relative to the base features (which span [-1, 1])."""


def build_synthetic_avatar(
    seed: int = 0,
    *,
    latent_segments: Sequence[tuple[str, int]] = DEFAULT_SEGMENTS,
    feature_channels: int = 8,
    feature_size: int = 64,
    hidden: tuple[int, ...] = (16, 16),
    activation: str = "relu",
    uv_frequencies: int = 2,
    mesh_resolution: tuple[int, int] = (32, 48),
    decoder_channels: int = 16,
    expression_encoder: bool = False,
) -> AvatarPackage:
    """A reproducible random-weight avatar (see module docstring); `feature_size` is 4 * 2^k (8..1024),
    `mesh_resolution` (rings, segments) of the head; `expression_encoder` adds a random linear
    encoders/expression.onnx for the drivers; ValueError for impossible arguments."""
    _check_args(seed, feature_channels, feature_size, activation, uv_frequencies, latent_segments)
    rng = np.random.default_rng(seed)
    config = HeadConfig(feature_channels, feature_size, hidden, activation, uv_frequencies, mesh_resolution)
    head = procedural_head(rng, config)
    mesh, info = head.mesh, head.feature_info
    layout = LatentLayout(tuple(LatentSegment(n, s) for n, s in latent_segments))
    weights = _decoder_weights(rng, layout, mesh, head.features, decoder_channels)
    manifest = AvatarManifest(
        format_version=FORMAT_VERSION,
        avatar_id=f"synthetic-{seed}",
        name=f"Synthetic random-weight avatar, seed {seed} (untrained)",
        latent=layout,
        mesh=MeshInfo(len(mesh.rest), len(mesh.topology.uv), len(mesh.topology.faces)),
        feature_map=info,
        pixel_mlp=PixelMlpInfo(tuple(hidden), activation, uv_frequencies),
        members={},
        provenance={
            "kind": SYNTHETIC_KIND,
            "trained": False,
            "note": "random weights for plumbing tests; not a trained codec avatar and not a likeness of anyone",
            "generator": "codecav.assets.synthetic.avatar.build_synthetic_avatar",
            "seed": seed,
            "params": {"latent_segments": [[n, s] for n, s in latent_segments], "feature_channels": feature_channels,
                       "feature_size": feature_size, "hidden": list(hidden), "activation": activation,
                       "uv_frequencies": uv_frequencies, "mesh_resolution": list(mesh_resolution),
                       "decoder_channels": decoder_channels},
            "command": f"codecav avatar synth --seed {seed} --out PATH",
        },
    )
    package = AvatarPackage(manifest=manifest, mesh=mesh.topology, pixel_mlp=head.mlp,
                            decoder_onnx=decoder_model(weights, f"synthetic_decoder_{seed}"),
                            encoders_onnx=({EXPRESSION_ENCODER_MEMBER: _expression_encoder(seed, layout)}
                                           if expression_encoder else {}),
                            source=f"<synthetic seed {seed}>")
    return replace(package, manifest=sealed_manifest(package, package_member_bytes(package)))


def _expression_encoder(seed: int, layout: LatentLayout) -> bytes:
    """A random linear ARKit-52 -> code map (its own seeded stream, so the decoder weights are unchanged): eye
    blendshapes drive 'eyes', jaw/mouth/tongue/cheek blendshapes drive 'mouth', all drive other segments."""
    rng = np.random.default_rng([seed, 52])
    weight = np.zeros((len(ARKIT_52), layout.dim))
    eye = np.array([n.startswith("eye") for n in ARKIT_52])
    mouth = np.array([n.startswith(("jaw", "mouth", "tongue", "cheek")) for n in ARKIT_52])
    start = 0
    for seg in layout.segments:
        rows = eye if seg.name == "eyes" else mouth if seg.name == "mouth" else np.ones(len(ARKIT_52), bool)
        # A weight of 1 on a few blendshapes gives codes of about N(0, 0.5^2), like the decoder expects.
        weight[rows, start:start + seg.size] = rng.standard_normal((int(rows.sum()), seg.size)) * 0.5
        start += seg.size
    return expression_encoder_model(weight, np.zeros(layout.dim), f"synthetic_expression_{seed}")


def _check_args(seed: int, channels: int, size: int, activation: str, freqs: int,
                segments: Sequence[tuple[str, int]]) -> None:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if channels % 4 or not 4 <= channels <= 16:
        raise ValueError(f"feature_channels must be a multiple of 4 in 4..16, got {channels}")
    if size < 8 or size > 1024 or size & (size - 1):
        raise ValueError(f"feature_size must be a power of two in 8..1024, got {size}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if not 0 <= freqs <= 10:
        raise ValueError(f"uv_frequencies must be in 0..10, got {freqs}")
    if not segments or any(s < 1 for _, s in segments):
        raise ValueError(f"latent_segments needs at least one segment of size >= 1, got {list(segments)}")


def _decoder_weights(rng: np.random.Generator, layout: LatentLayout, mesh: HeadMesh, base: np.ndarray,
                     hidden: int) -> DecoderWeights:
    """Weights of the decoder graph (see synthetic_onnx): smooth latent detail, smooth vertex offsets."""
    dim = layout.dim
    channels, size = base.shape[0], base.shape[1]
    blur = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16  # keeps every stage's output smooth
    stages = []
    for _ in range(int(np.log2(size // 4))):
        mix = rng.standard_normal((hidden, hidden)) * (1.2 / np.sqrt(hidden))
        stages.append(((mix[:, :, None, None] * blur).astype(np.float32), np.zeros(hidden, np.float32)))
    head_w = rng.standard_normal((channels, hidden, 1, 1)) * (DETAIL_GAIN / np.sqrt(hidden))
    edge = np.clip(6 * np.minimum((np.arange(size) + 0.5) / size, 1 - (np.arange(size) + 0.5) / size), 0, 1)
    edge = edge * edge * (3 - 2 * edge)
    return DecoderWeights(
        latent_fc=(rng.standard_normal((dim, hidden * 16)) / np.sqrt(dim)).astype(np.float32),
        latent_fc_bias=np.zeros(hidden * 16, np.float32),
        stage_convs=tuple(stages),
        head=(head_w.astype(np.float32), np.zeros(channels, np.float32)),
        detail_mask=np.outer(edge, edge)[None, None].astype(np.float32),
        base_features=base[None],
        geometry_latent=_offset_basis(rng, layout, mesh),
        geometry_view=_view_basis(rng, mesh),
        rest=mesh.rest.reshape(-1).astype(np.float32),
    )


def _smooth_fields(rng: np.random.Generator, count: int, dirs: np.ndarray) -> np.ndarray:
    """[count, V] random low-frequency waves over the head directions."""
    waves = rng.standard_normal((count, 3))
    waves *= rng.uniform(2.0, 5.0, (count, 1)) / np.linalg.norm(waves, axis=1, keepdims=True)
    out: np.ndarray = np.sin(waves @ dirs.T + rng.uniform(0, 2 * np.pi, (count, 1)))
    return out


def _offset_basis(rng: np.random.Generator, layout: LatentLayout, mesh: HeadMesh) -> np.ndarray:
    """float32 [D, 3V]: each latent entry moves vertices along their normals by a smooth field, windowed to the
    face for 'face', around the eyes for 'eyes' and the mouth for 'mouth' (other names: whole head)."""
    dirs = mesh.directions.astype(np.float64)
    windows = {
        "face": 0.3 + 0.7 * np.clip(dirs[:, 2], 0, 1),
        "eyes": blobs(dirs, EYES, 0.18),
        "mouth": blobs(dirs, (MOUTH,), 0.2),
    }
    fields = []
    for seg in layout.segments:
        fields.append(_smooth_fields(rng, seg.size, dirs) * windows.get(seg.name, np.ones(len(dirs))))
    field = np.concatenate(fields)  # [D, V]
    field *= GEOMETRY_OFFSET_M / np.linalg.norm(field, axis=0).max()
    return (field[:, :, None] * mesh.normals[None]).reshape(layout.dim, -1).astype(np.float32)


def _view_basis(rng: np.random.Generator, mesh: HeadMesh) -> np.ndarray:
    """float32 [3, 3V]: view-dependent offsets along the normals, at most VIEW_OFFSET_M per axis."""
    field = _smooth_fields(rng, 3, mesh.directions.astype(np.float64)) * VIEW_OFFSET_M
    return (field[:, :, None] * mesh.normals[None]).reshape(3, -1).astype(np.float32)
