"""The pluggable layer of the latent wire format: how a float code becomes bytes and back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from codecav.assets.package import LatentLayout


@dataclass(frozen=True)
class QuantizedCode:
    """A latent code as it travels: the packed entries and, for scaled modes, one scale per segment."""

    payload: bytes
    """Packed code entries (wire field 'z')."""
    scales: bytes
    """Little-endian float32 per latent segment (wire field 'k'); empty for modes without scales."""


class CodeQuantizer(ABC):
    """Turns a float32 code into a QuantizedCode and back, within a stated per-entry error bound."""

    name: ClassVar[str]
    """Name used in the API, e.g. 'int8'."""
    wire_id: ClassVar[int]
    """Value of the wire field 'q' that selects this mode."""

    @abstractmethod
    def quantize(self, code: np.ndarray, layout: LatentLayout) -> QuantizedCode:
        """Quantize a checked, finite float32 [layout.dim] code."""

    @abstractmethod
    def dequantize(self, quantized: QuantizedCode, layout: LatentLayout) -> np.ndarray:
        """float32 [layout.dim] from received bytes; raises WireFormatError subclasses on bad input."""

    @abstractmethod
    def error_bound(self, code: np.ndarray, layout: LatentLayout) -> np.ndarray:
        """float64 [layout.dim]: the most |code - dequantize(quantize(code))| can be, per entry."""
