"""OnnxNeuralDecoder: runs an avatar package's ONNX decoder (latent, view_dir) -> (geometry, features)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from codecav.decoders.base import DECODER_INPUTS, DECODER_OUTPUTS, DecodedFrame, NeuralDecoder
from codecav.errors import CodecavError


class DecoderModelError(CodecavError):
    """The ONNX decoder cannot be loaded or does not have the decoder interface."""


class OnnxNeuralDecoder(NeuralDecoder):
    """The neural part of an avatar on onnxruntime's CPU provider; one session, reused every frame."""

    def __init__(self, decoder_onnx: bytes, *, threads: int = 1) -> None:
        """Load the model; `threads` sets both intra- and inter-op thread counts (>= 1)."""
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(decoder_onnx, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise DecoderModelError(f"cannot load the ONNX decoder ({type(exc).__name__}); re-export it") from exc
        inputs = {i.name for i in self._session.get_inputs()}
        outputs = {o.name for o in self._session.get_outputs()}
        missing = [n for n in DECODER_INPUTS if n not in inputs] + [n for n in DECODER_OUTPUTS if n not in outputs]
        if missing:
            raise DecoderModelError(
                f"ONNX decoder lacks {missing}; it must take {DECODER_INPUTS} and produce {DECODER_OUTPUTS}"
            )
        self.threads = threads
        """onnxruntime intra/inter-op threads."""

    def decode(self, latent: np.ndarray, view_dir: np.ndarray) -> DecodedFrame:
        """Decode one frame; features come back as float32 [H, W, C] C-contiguous (from NCHW)."""
        feeds = {
            "latent": np.ascontiguousarray(latent, dtype=np.float32).reshape(1, -1),
            "view_dir": np.ascontiguousarray(view_dir, dtype=np.float32).reshape(1, 3),
        }
        geometry, features = self._session.run(list(DECODER_OUTPUTS), feeds)
        return DecodedFrame(
            geometry=np.ascontiguousarray(np.asarray(geometry, dtype=np.float32)[0]),
            features=np.ascontiguousarray(np.asarray(features, dtype=np.float32)[0].transpose(1, 2, 0)),
        )
