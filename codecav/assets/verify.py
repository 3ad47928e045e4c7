"""verify_avatar: load_avatar's checks plus one run of the decoder on onnxruntime (zero code, frontal view)
and of the pixel MLP on the decoded features, checking output shapes and finiteness."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.assets.archive import PackageLimits
from codecav.assets.errors import InvalidMemberError, NonFiniteWeightsError, TensorShapeError
from codecav.assets.loader import DEFAULT_LIMITS, open_avatar
from codecav.assets.manifest import DECODER_MEMBER, MLP_MEMBER
from codecav.assets.onnx_checks import DECODER_INPUT_NAMES, DECODER_OUTPUT_NAMES
from codecav.assets.package import AvatarPackage, PixelMlp, run_pixel_mlp, texel_uv
from codecav.clock import MONOTONIC, Clock

MLP_SAMPLE_TEXELS = 4096
"""Texels of the decoded feature map run through the pixel MLP during verification."""


@dataclass(frozen=True)
class VerifyReport:
    """What verify_avatar checked and saw."""

    source: str
    """The package path."""
    avatar_id: str
    """Manifest avatar_id."""
    format_version: int
    """Manifest format_version."""
    member_count: int
    """Files in the package, avatar.json included."""
    total_bytes: int
    """Sum of member sizes."""
    geometry_shape: tuple[int, ...]
    """Decoder geometry output shape, (1, V, 3)."""
    features_shape: tuple[int, ...]
    """Decoder features output shape, (1, C, H, W)."""
    geometry_extent_m: tuple[float, float, float]
    """Size of the decoded geometry's bounding box (x, y, z) in metres, for a plausibility glance."""
    rgb_range: tuple[float, float]
    """Min and max of the pixel MLP's RGB over the sampled texels."""
    decode_ms: float
    """Wall time of the decoder run (including session creation)."""
    provenance_kind: str
    """provenance['kind'], e.g. 'synthetic-random' or 'trained'; '' when absent."""

    def summary(self) -> str:
        """One line, e.g. 'OK synthetic-0 (format v1, 4 files, 1.1 MiB): ...'."""
        ex = "x".join(f"{e * 100:.1f}" for e in self.geometry_extent_m)
        kind = f", {self.provenance_kind}" if self.provenance_kind else ""
        return (f"OK {self.avatar_id} (format v{self.format_version}, {self.member_count} files, "
                f"{self.total_bytes / 2**20:.1f} MiB{kind}): hashes, shapes and weights checked; decoder ran in "
                f"{self.decode_ms:.0f} ms, geometry {list(self.geometry_shape)} spans {ex} cm, features "
                f"{list(self.features_shape)}, RGB {self.rgb_range[0]:.2f}..{self.rgb_range[1]:.2f}, all finite")


def verify_avatar(
    path: Path | str, *, limits: PackageLimits = DEFAULT_LIMITS, clock: Clock = MONOTONIC
) -> VerifyReport:
    """Check the package as load_avatar does, then run its decoder once (timed on `clock`); AvatarFormatError
    on any failure."""
    loaded = open_avatar(path, limits=limits)
    package = loaded.package
    start_ns = clock.now_ns()
    geometry, features = run_decoder_once(package)
    decode_ms = (clock.now_ns() - start_ns) / 1e6
    rgb = _mlp_rgb(package.pixel_mlp, features[0], package.source)
    extent = geometry[0].max(axis=0) - geometry[0].min(axis=0)
    manifest = package.manifest
    return VerifyReport(
        source=package.source, avatar_id=manifest.avatar_id, format_version=manifest.format_version,
        member_count=len(loaded.member_sizes), total_bytes=loaded.total_bytes,
        geometry_shape=tuple(geometry.shape), features_shape=tuple(features.shape),
        geometry_extent_m=(float(extent[0]), float(extent[1]), float(extent[2])),
        rgb_range=(float(rgb.min()), float(rgb.max())), decode_ms=decode_ms,
        provenance_kind=str(manifest.provenance.get("kind", "")),
    )


def run_decoder_once(package: AvatarPackage) -> tuple[np.ndarray, np.ndarray]:
    """(geometry [1, V, 3], features [1, C, H, W]) for a zero code seen from the front (view_dir +z), after
    checking shapes and finiteness; call only on a package from load_avatar."""
    import onnxruntime as ort

    manifest, source = package.manifest, package.source
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    feeds = {
        DECODER_INPUT_NAMES[0]: np.zeros((1, manifest.latent.dim), np.float32),
        DECODER_INPUT_NAMES[1]: np.array([[0.0, 0.0, 1.0]], np.float32),
    }
    try:
        session = ort.InferenceSession(package.decoder_onnx, options, providers=["CPUExecutionProvider"])
        geometry, features = (np.asarray(a) for a in session.run(list(DECODER_OUTPUT_NAMES), feeds))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidArgument types
        raise InvalidMemberError(source, DECODER_MEMBER, f"fails to run on onnxruntime ({_first_line(exc)})",
                                 "re-export the avatar with standard opset operators") from None
    fm = manifest.feature_map
    for name, array, want in (("geometry", geometry, (1, manifest.mesh.num_vertices, 3)),
                              ("features", features, (1, fm.channels, fm.height, fm.width))):
        if array.shape != want or array.dtype != np.float32:
            raise TensorShapeError(source, DECODER_MEMBER, f"output {name} came out {array.dtype} "
                                   f"{list(array.shape)}, expected float32 {list(want)}", "re-export the avatar")
        if not np.all(np.isfinite(array)):
            raise NonFiniteWeightsError(source, DECODER_MEMBER, f"output {name} holds NaN/inf for a zero code",
                                        "re-export the avatar from a checkpoint that decodes finite values")
    return geometry, features


def _mlp_rgb(mlp: PixelMlp, features_chw: np.ndarray, source: str) -> np.ndarray:
    """RGB [N, 3] of the pixel MLP on up to MLP_SAMPLE_TEXELS texels (frontal view direction)."""
    channels, height, width = features_chw.shape
    pick = np.linspace(0, height * width - 1, min(MLP_SAMPLE_TEXELS, height * width)).astype(np.int64)
    view = np.tile([0.0, 0.0, 1.0], (len(pick), 1))
    rgb = run_pixel_mlp(mlp, features_chw.reshape(channels, -1)[:, pick].T, view, texel_uv(height, width)[pick])
    if not np.all(np.isfinite(rgb)):
        raise NonFiniteWeightsError(source, MLP_MEMBER, "gives NaN RGB on the decoded features",
                                    "re-export the avatar with a working pixel MLP")
    return rgb


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
