"""Code quantizers of wire format v1: int8 with one float32 scale per latent segment, and fp16."""

from __future__ import annotations

import numpy as np

from codecav.assets.package import LatentLayout
from codecav.net.errors import InvalidFieldError, LayoutMismatchError
from codecav.net.wire.base import CodeQuantizer, QuantizedCode

MAX_CODE_ABS = 65504.0
"""Largest |entry| a code may hold on the wire (the largest finite float16), in every mode."""
MAX_SCALE = float(np.float32(MAX_CODE_ABS / 127.0))
"""Largest int8 segment scale a receiver accepts."""
ZERO_SEGMENT_ABS = 1e-30
"""Segments whose peak |entry| is below this are sent as zeros (keeps scales out of float32 subnormals)."""


class Int8Quantizer(CodeQuantizer):
    """int8 per entry, symmetric, one float32 scale per segment: scale = max|segment| / 127.

    Error bound per entry: |x - x'| <= max|segment| / 254 * (1 + 2^-15) + 1e-30.
    """

    name = "int8"
    wire_id = 0

    def quantize(self, code: np.ndarray, layout: LatentLayout) -> QuantizedCode:
        """Round each entry to the nearest multiple of its segment's scale."""
        x = code.astype(np.float64)
        q = np.zeros(code.shape[0], np.int8)
        scales = np.zeros(len(layout.segments), "<f4")
        start = 0
        for i, seg in enumerate(layout.segments):
            part = x[start : start + seg.size]
            peak = float(np.max(np.abs(part))) if seg.size else 0.0
            if peak >= ZERO_SEGMENT_ABS:
                scale = np.float32(peak / 127.0)
                scales[i] = scale
                q[start : start + seg.size] = np.clip(np.rint(part / float(scale)), -127, 127).astype(np.int8)
            start += seg.size
        return QuantizedCode(q.tobytes(), scales.tobytes())

    def dequantize(self, quantized: QuantizedCode, layout: LatentLayout) -> np.ndarray:
        """Multiply each entry by its segment's scale."""
        dim, nseg = layout.dim, len(layout.segments)
        if len(quantized.payload) != dim:
            raise LayoutMismatchError(
                f"latent frame code has {len(quantized.payload)} int8 entries; the avatar's layout has {dim}"
            )
        if len(quantized.scales) != 4 * nseg:
            raise LayoutMismatchError(
                f"latent frame has {len(quantized.scales) // 4} scales ({len(quantized.scales)} bytes); "
                f"the avatar's layout has {nseg} segments"
            )
        scales = np.frombuffer(quantized.scales, "<f4")
        if not np.all(np.isfinite(scales)):
            raise InvalidFieldError("latent frame field 'k' (scales) holds NaN or inf")
        if np.any(scales < 0) or np.any(scales > MAX_SCALE):
            raise InvalidFieldError(f"latent frame field 'k' (scales) must be in [0, {MAX_SCALE}]")
        q = np.frombuffer(quantized.payload, np.int8)
        if np.any(q == -128):
            raise InvalidFieldError("latent frame field 'z' (code) holds -128; int8 entries must be in [-127, 127]")
        per_entry = np.repeat(scales, [s.size for s in layout.segments])
        return (q.astype(np.float32) * per_entry).astype(np.float32)

    def error_bound(self, code: np.ndarray, layout: LatentLayout) -> np.ndarray:
        """max|segment| / 254 * (1 + 2^-15) + 1e-30 for every entry of the segment."""
        x = np.abs(code.astype(np.float64))
        bound = np.empty(code.shape[0], np.float64)
        start = 0
        for seg in layout.segments:
            peak = float(np.max(x[start : start + seg.size])) if seg.size else 0.0
            bound[start : start + seg.size] = peak / 254.0 * (1.0 + 2.0**-15) + ZERO_SEGMENT_ABS
            start += seg.size
        return bound


class Fp16Quantizer(CodeQuantizer):
    """IEEE half precision per entry, no scales. Error bound: |x - x'| <= |x| * 2^-11 + 2^-25."""

    name = "fp16"
    wire_id = 1

    def quantize(self, code: np.ndarray, layout: LatentLayout) -> QuantizedCode:
        """Round each entry to the nearest float16."""
        return QuantizedCode(code.astype("<f2").tobytes(), b"")

    def dequantize(self, quantized: QuantizedCode, layout: LatentLayout) -> np.ndarray:
        """Widen each float16 entry to float32."""
        dim = layout.dim
        if len(quantized.payload) != 2 * dim:
            raise LayoutMismatchError(
                f"latent frame code has {len(quantized.payload)} bytes of fp16; the avatar's layout needs {2 * dim}"
            )
        if quantized.scales:
            raise InvalidFieldError("latent frame field 'k' (scales) must be absent in fp16 mode")
        values = np.frombuffer(quantized.payload, "<f2")
        if not np.all(np.isfinite(values)):
            raise InvalidFieldError("latent frame field 'z' (code) holds NaN or inf")
        return values.astype(np.float32)

    def error_bound(self, code: np.ndarray, layout: LatentLayout) -> np.ndarray:
        """|x| * 2^-11 + 2^-25 per entry (half an fp16 ulp, subnormals included)."""
        return np.abs(code.astype(np.float64)) * 2.0**-11 + 2.0**-25


_QUANTIZERS: dict[str, CodeQuantizer] = {q.name: q for q in (Int8Quantizer(), Fp16Quantizer())}
_BY_WIRE_ID: dict[int, CodeQuantizer] = {q.wire_id: q for q in _QUANTIZERS.values()}


def get_quantizer(name: str) -> CodeQuantizer:
    """The quantizer called `name`; ValueError naming it and the known ones if absent."""
    try:
        return _QUANTIZERS[name]
    except KeyError:
        raise ValueError(f"unknown code quantization {name!r}; use one of {sorted(_QUANTIZERS)}") from None


def quantizer_for_wire_id(wire_id: int) -> CodeQuantizer | None:
    """The quantizer whose wire field 'q' is `wire_id`, or None."""
    return _BY_WIRE_ID.get(wire_id)
