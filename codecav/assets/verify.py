"""verify_avatar: load_avatar's checks plus one trial run of the decoder (zero code, frontal view) and of
every encoder (zero input) in a child process with CPU, memory and wall-clock limits, and of the pixel MLP on
the decoded features, checking output shapes and finiteness."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from codecav.assets.archive import PackageLimits
from codecav.assets.errors import NonFiniteWeightsError, TensorShapeError
from codecav.assets.graph_bounds import interface_shapes
from codecav.assets.loader import DEFAULT_LIMITS, open_avatar
from codecav.assets.manifest import DECODER_MEMBER, MLP_MEMBER
from codecav.assets.onnx_checks import DECODER_INPUT_NAMES, DECODER_OUTPUT_NAMES, decoder_shapes
from codecav.assets.package import AvatarPackage, PixelMlp, run_pixel_mlp, texel_uv
from codecav.assets.trial import DEFAULT_TRIAL_LIMITS, TrialInput, TrialLimits, TrialModel, trial_run

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
    """Time of the decoder's session creation and run in the trial child."""
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
    path: Path | str, *, limits: PackageLimits = DEFAULT_LIMITS, trial: TrialLimits = DEFAULT_TRIAL_LIMITS
) -> VerifyReport:
    """Check the package as load_avatar does (operator allowlist and shape bounds included), then run its
    decoder and encoders once in a limited child process (codecav.assets.trial); AvatarFormatError (one line,
    with a reason key) on any failure."""
    loaded = open_avatar(path, limits=limits)
    package = loaded.package
    geometry, features, decode_ms = run_decoder_once(package, trial)
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


def run_decoder_once(package: AvatarPackage,
                     limits: TrialLimits = DEFAULT_TRIAL_LIMITS) -> tuple[np.ndarray, np.ndarray, float]:
    """(geometry [1, V, 3], features [1, C, H, W], decoder ms) for a zero code seen from the front (view_dir
    +z), run with every encoder of the package in one trial child (codecav.assets.trial) under `limits`,
    after checking output shapes and finiteness; call only on a package from load_avatar."""
    manifest, source = package.manifest, package.source
    shapes = decoder_shapes(manifest)
    models = [TrialModel(DECODER_MEMBER, package.decoder_onnx,
                         {DECODER_INPUT_NAMES[0]: TrialInput(tuple(shapes["latent"])),
                          DECODER_INPUT_NAMES[1]: TrialInput(tuple(shapes["view_dir"]), fill=(0.0, 0.0, 1.0))},
                         DECODER_OUTPUT_NAMES)]
    for name in sorted(package.encoders_onnx):
        models.append(_encoder_trial(name, package.encoders_onnx[name]))
    interface = max(4 * int(np.prod(s)) for s in shapes.values())
    results = {r.member: r for r in trial_run(models, source, limits, interface_bytes=interface)}
    for name in sorted(package.encoders_onnx):
        for out, array in results[name].arrays.items():
            if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
                raise NonFiniteWeightsError(source, name, f"output {out} holds NaN/inf for a zero input",
                                            "re-export the avatar from a checkpoint that encodes finite values")
    decoded = results[DECODER_MEMBER]
    geometry, features = (decoded.arrays[n] for n in DECODER_OUTPUT_NAMES)
    for name, array in (("geometry", geometry), ("features", features)):
        want = tuple(shapes[name])
        if array.shape != want or array.dtype != np.float32:
            raise TensorShapeError(source, DECODER_MEMBER, f"output {name} came out {array.dtype} "
                                   f"{list(array.shape)}, expected float32 {list(want)}", "re-export the avatar")
        if not np.all(np.isfinite(array)):
            raise NonFiniteWeightsError(source, DECODER_MEMBER, f"output {name} holds NaN/inf for a zero code",
                                        "re-export the avatar from a checkpoint that decodes finite values")
    return geometry, features, decoded.ms


def _encoder_trial(name: str, data: bytes) -> TrialModel:
    """An encoder as a trial model: zeros at its interface shapes (a batch of one), every output fetched."""
    model = onnx.load_model_from_string(data)  # parsed and checked by load_avatar already
    initializers = {i.name for i in model.graph.initializer}
    inputs = {}
    for value, shape in interface_shapes(model).items():
        elem = next(v.type.tensor_type.elem_type for v in model.graph.input if v.name == value)
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem)).name
        inputs[value] = TrialInput(shape, dtype)
    outputs = tuple(o.name for o in model.graph.output if o.name not in initializers)
    return TrialModel(name, data, inputs, outputs)


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

