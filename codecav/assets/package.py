"""Typed contents of an avatar package (format v1): manifest, mesh topology, per-pixel MLP.

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

FORMAT_VERSION = 1
"""The avatar package format version this code reads and writes."""

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
