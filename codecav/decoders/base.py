"""Interfaces of the decoder layer: what a neural decoder produces and the abstract decoder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

DECODER_INPUTS = ("latent", "view_dir")
"""ONNX input names: latent float32 [1, D]; view_dir float32 [1, 3] (unit, head space, towards camera)."""

DECODER_OUTPUTS = ("geometry", "features")
"""ONNX output names: geometry float32 [1, V, 3] (head space, metres); features float32 [1, C, H, W]."""


@dataclass(frozen=True)
class DecodedFrame:
    """One frame of an avatar decoded by the neural part, ready for the per-pixel GL pass."""

    geometry: np.ndarray
    """float32 [V, 3] vertex positions in head space (metres)."""
    features: np.ndarray
    """float32 [H, W, C] UV feature map, row 0 at v = 0 (OpenGL texture order), C-contiguous."""


class NeuralDecoder(ABC):
    """Turns a latent code and a view direction into a DecodedFrame."""

    @abstractmethod
    def decode(self, latent: np.ndarray, view_dir: np.ndarray) -> DecodedFrame:
        """Decode one frame; `latent` is float32 [D], `view_dir` float32 [3] unit in head space."""
