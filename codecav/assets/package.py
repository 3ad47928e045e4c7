"""Typed contents of an avatar package (format v1): manifest, mesh topology, per-pixel MLP, and the NumPy
reference of that MLP (float64) which building, verifying and the renderers' reference images all use.

Conventions shared by every part of codecav (see docs/avatar-format.md):
- Head space: metres, right-handed, +y up, +z out of the face (the avatar looks along +z), +x the
  avatar's left.
- A view direction is a unit vector in head space pointing from the head (or a surface point) towards
  the camera, as in Multiface.
- UV: (0, 0) is the first texel row/column of every UV-space array; feature-map row r, column c sits at
  uv = ((c + 0.5) / W, (r + 0.5) / H), the OpenGL texture convention.
- Weights follow torch.nn.Linear: weight [out, in], bias [out].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT_VERSION = 2
"""The newest avatar package format version this code reads and writes (2 adds `quant_table.npz`)."""
READABLE_VERSIONS = (1, 2)
"""Every format version this code reads; a package is written at the lowest version that holds its members."""

MLP_OUTPUT_CHANNELS = 3
"""The per-pixel MLP outputs linear RGB before a final sigmoid."""

ACTIVATIONS = ("relu", "sine")
"""Hidden-layer activations a per-pixel MLP may use (sine: SIREN, w0 folded into the weights)."""


@dataclass(frozen=True)
class LatentSegment:
    """A named, contiguous part of the latent code (e.g. face, eyes, mouth)."""

    name: str
    """Segment name, unique within the layout."""
    size: int
    """Number of float entries in this segment."""


@dataclass(frozen=True)
class LatentLayout:
    """The latent code as an ordered list of named segments."""

    segments: tuple[LatentSegment, ...]
    """Segments in code order; the code is their concatenation."""

    @property
    def dim(self) -> int:
        """Total length of the latent code."""
        return sum(s.size for s in self.segments)

    def slice_of(self, name: str) -> slice:
        """The slice of the code that holds segment `name`; ValueError naming it if absent."""
        start = 0
        for seg in self.segments:
            if seg.name == name:
                return slice(start, start + seg.size)
            start += seg.size
        raise ValueError(f"latent layout has no segment {name!r}; it has {[s.name for s in self.segments]}")


@dataclass(frozen=True)
class MeshInfo:
    """Sizes of the avatar mesh, recorded in the manifest so loading can check the arrays."""

    num_vertices: int
    """Geometry vertices the decoder outputs per frame (V)."""
    num_render_vertices: int
    """Vertices after splitting at UV seams (R >= V); each maps to one geometry vertex."""
    num_triangles: int
    """Triangles (F)."""


@dataclass(frozen=True)
class FeatureMapInfo:
    """Shape of the UV feature map the decoder outputs (PiCA's local expression codes)."""

    channels: int
    """Feature channels C (a multiple of 4, at most 16)."""
    height: int
    """Rows H."""
    width: int
    """Columns W."""


@dataclass(frozen=True)
class PixelMlpInfo:
    """Shape of the per-pixel MLP run in the fragment shader."""

    hidden: tuple[int, ...]
    """Widths of the hidden layers, e.g. (16, 16)."""
    activation: str
    """Hidden activation, one of ACTIVATIONS."""
    uv_frequencies: int
    """L: UV positional encoding adds sin/cos of 2^k*pi*u and 2^k*pi*v for k < L (4L inputs)."""

    def input_size(self, feature_channels: int) -> int:
        """MLP input width: features (C), view direction (3), UV encoding (4L)."""
        return feature_channels + 3 + 4 * self.uv_frequencies


@dataclass(frozen=True)
class AvatarManifest:
    """`avatar.json`: everything needed to check and run the other members."""

    format_version: int
    """Avatar package format version (FORMAT_VERSION)."""
    avatar_id: str
    """Stable identifier, e.g. 'sample-ada'."""
    name: str
    """Human-readable name."""
    latent: LatentLayout
    """Layout of the latent code the decoder takes."""
    mesh: MeshInfo
    """Mesh sizes."""
    feature_map: FeatureMapInfo
    """Decoder feature-map shape."""
    pixel_mlp: PixelMlpInfo
    """Per-pixel MLP shape."""
    members: dict[str, str]
    """Member path -> sha256 hex digest, for every member except avatar.json itself."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """How the avatar was made: kind ('synthetic-random' or 'trained'), command, seed, data, metrics."""


@dataclass(frozen=True)
class MeshTopology:
    """Triangle mesh with UVs; vertices are split at UV seams (render vertices)."""

    faces: np.ndarray
    """int32 [F, 3], indices into render vertices, counter-clockwise seen from outside."""
    uv: np.ndarray
    """float32 [R, 2] texture coordinates of render vertices."""
    vertex_index: np.ndarray
    """int32 [R], the geometry vertex (row of the decoded geometry) of each render vertex."""


@dataclass(frozen=True)
class PixelMlp:
    """Weights of the per-pixel MLP: hidden layers with `activation`, then a linear RGB layer + sigmoid."""

    weights: tuple[np.ndarray, ...]
    """float32 [out, in] per layer, first to last."""
    biases: tuple[np.ndarray, ...]
    """float32 [out] per layer."""
    activation: str
    """Hidden activation, one of ACTIVATIONS."""
    uv_frequencies: int
    """Number of UV positional-encoding frequencies L."""

    @property
    def input_size(self) -> int:
        """Width of the MLP input vector."""
        return int(self.weights[0].shape[1])


def texel_uv(height: int, width: int) -> np.ndarray:
    """float64 [H*W, 2] uv of the texel centres of an H x W UV-space array, row-major (row r, column c at
    ((c + 0.5) / W, (r + 0.5) / H))."""
    v, u = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    return np.stack([u.ravel(), v.ravel()], axis=1)


def uv_encoding(uv: np.ndarray, frequencies: int) -> np.ndarray:
    """float64 [N, 4L]: for k < L: sin(2^k pi u), sin(2^k pi v), cos(2^k pi u), cos(2^k pi v)."""
    uv64 = np.asarray(uv, np.float64)
    parts = []
    for k in range(frequencies):
        a = (2.0**k) * np.pi * uv64
        parts += [np.sin(a), np.cos(a)]
    if not parts:
        return np.zeros((uv64.shape[0], 0))
    return np.concatenate(parts, axis=1)


def mlp_input(features: np.ndarray, view_dirs: np.ndarray, uv: np.ndarray, uv_frequencies: int) -> np.ndarray:
    """float64 [N, C + 3 + 4L], the MLP input in package order: features [N, C], view_dirs [N, 3] (unit,
    surface -> camera, head space), then uv_encoding(uv [N, 2], L)."""
    return np.concatenate(
        [np.asarray(features, np.float64), np.asarray(view_dirs, np.float64), uv_encoding(uv, uv_frequencies)],
        axis=1,
    )


def mlp_logits(mlp: PixelMlp, x: np.ndarray) -> np.ndarray:
    """float64 [N, 3] RGB before the final sigmoid of the MLP input `x` [N, mlp.input_size]: hidden layers
    with relu/sin, then the linear RGB layer (the reference every renderer and exporter is checked against)."""
    last = len(mlp.weights) - 1
    for index, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        x = x @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)
        if index < last:
            x = np.maximum(x, 0.0) if mlp.activation == "relu" else np.sin(x)
    return x


def run_pixel_mlp(mlp: PixelMlp, features: np.ndarray, view_dirs: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """float64 [N, 3] RGB in [0, 1] of the MLP at N pixels: features [N, C], unit view_dirs [N, 3], uv [N, 2]."""
    logits = mlp_logits(mlp, mlp_input(features, view_dirs, uv, mlp.uv_frequencies))
    with np.errstate(over="ignore"):
        rgb: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
    return rgb


@dataclass(frozen=True)
class CodeQuantTable:
    """Per-entry quantization of the latent code for wire format v2 (`quant_table.npz`, format v2): entry i is
    sent as the integer round((z_i - center_i) / step_i) and received as center_i + q_i * step_i. Learned at
    build time so that renders from received codes stay within a PSNR of renders from the float codes."""

    step: np.ndarray
    """float32 [D], each > 0: the quantization step of each code entry (coarse where renders do not change)."""
    center: np.ndarray
    """float32 [D]: the code the integers count from (the mean of the codes the table was learned on)."""

    def quantize(self, code: np.ndarray) -> np.ndarray:
        """int64 [D] indices of a float code (no range checks: wire v2 does those)."""
        return np.rint((np.asarray(code, np.float64) - self.center) / self.step).astype(np.int64)

    def dequantize(self, indices: np.ndarray) -> np.ndarray:
        """float32 [D] code of integer indices."""
        return (self.center.astype(np.float64) + np.asarray(indices, np.float64) * self.step).astype(np.float32)


@dataclass(frozen=True)
class AvatarPackage:
    """A loaded, verified avatar: manifest plus the arrays and model bytes it names."""

    manifest: AvatarManifest
    """Parsed avatar.json."""
    mesh: MeshTopology
    """Mesh topology with UVs."""
    pixel_mlp: PixelMlp
    """Per-pixel MLP weights."""
    decoder_onnx: bytes
    """The serialized ONNX decoder (latent, view_dir) -> (geometry, features)."""
    encoders_onnx: dict[str, bytes] = field(default_factory=dict)
    """Optional encoder models by member path (encoders/NAME.onnx)."""
    source: str = ""
    """Where it was loaded from (a directory or .cavatar path), for messages."""
    quant_table: CodeQuantTable | None = None
    """Wire v2 code quantization (format v2 member quant_table.npz); None: the avatar's frames travel as v1."""
