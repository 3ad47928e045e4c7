"""The avatar's expression encoder: ARKit-52 weights -> the avatar's latent code, run with onnxruntime.

An avatar package may carry `encoders/expression.onnx`: input "arkit" float32 [N, 52] (ARKIT_52 order) ->
output "code" float32 [N, D] laid out as the manifest's latent segments."""

from __future__ import annotations

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.assets.package import AvatarPackage, LatentLayout
from codecav.encoders.errors import MissingEncoderError
from codecav.encoders.onnx_session import check_io, open_session

EXPRESSION_MEMBER = "encoders/expression.onnx"
"""Package member of the expression encoder."""


class ExpressionEncoder:
    """Turns ARKit-52 weights into an avatar's latent code (one onnxruntime session, CPU)."""

    def __init__(self, model: bytes, layout: LatentLayout, source: str = "<model>", threads: int = 1) -> None:
        """Load `model` (ONNX bytes) for an avatar whose code has `layout`; EncoderModelError if its I/O
        does not match ("arkit" [N, 52] -> "code" [N, layout.dim])."""
        self.layout = layout
        """Latent layout of the codes this encoder makes."""
        what = f"{source}: {EXPRESSION_MEMBER}"
        self._session = open_session(model, what, threads)
        check_io(self._session, what, {"arkit": len(ARKIT_52)}, {"code": layout.dim})

    @classmethod
    def from_package(cls, package: AvatarPackage, threads: int = 1) -> ExpressionEncoder:
        """The encoder shipped in `package`; MissingEncoderError (one line, with the fix) if it has none."""
        model = package.encoders_onnx.get(EXPRESSION_MEMBER)
        if model is None:
            raise MissingEncoderError(
                f"{package.source or package.manifest.avatar_id}: avatar has no {EXPRESSION_MEMBER}, so ARKit-driven "
                "sources cannot drive it; use an avatar built by `codecav avatar build` or `codecav avatar synth`")
        return cls(model, package.manifest.latent, package.source or package.manifest.avatar_id, threads)

    def encode(self, weights: np.ndarray) -> np.ndarray:
        """float32 [D] code for weights [52], or [N, D] for [N, 52]."""
        w = np.asarray(weights, dtype=np.float32)
        single = w.ndim == 1
        batch = w[None] if single else w
        if batch.ndim != 2 or batch.shape[1] != len(ARKIT_52):
            raise ValueError(f"weights must be [52] or [N, 52], got {w.shape}")
        code = np.asarray(self._session.run(["code"], {"arkit": np.ascontiguousarray(batch)})[0], dtype=np.float32)
        return code[0] if single else code
