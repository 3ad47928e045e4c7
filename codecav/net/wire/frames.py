"""Wire format v1 of latent frames: one msgpack map per frame on the unreliable data channel.

Pure parse/serialize; the layout of the fields, limits and errors are specified in docs/wire-format.md.
"""

from __future__ import annotations

import msgpack
import numpy as np

from codecav.assets.package import LatentLayout
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.net.errors import InvalidFieldError, UnsupportedVersionError, WireEncodeError
from codecav.net.wire.base import QuantizedCode
from codecav.net.wire.common import FieldReader, unpack_map
from codecav.net.wire.quant import MAX_CODE_ABS, get_quantizer, quantizer_for_wire_id

WIRE_VERSION = 1
"""Version of the latent frame format this code writes and reads (wire field 'v')."""
MAX_MESSAGE_BYTES = 16384
"""Longest latent frame message accepted or produced."""
MAX_CODE_LENGTH = 4096
"""Longest latent code (entries) the format carries."""
MAX_SEGMENTS = 64
"""Most latent segments (int8 scales) the format carries."""
MAX_SEQUENCE = 2**63 - 1
"""Largest frame sequence number."""
MAX_CAPTURE_TIME_US = 2**52
"""Largest capture timestamp in microseconds (about 142 years of monotonic clock)."""
MAX_FLAGS = 2**32 - 1
"""Largest flags value; bits this version does not know are dropped on decode."""
MAX_POSITION_M = 1000.0
"""Largest |coordinate| of a head position in metres."""
UNIT_NORM_TOLERANCE = 1e-3
"""How far the norm of a head quaternion or a gaze vector may be from 1."""
KNOWN_FLAGS = int(FrameFlags.TRACKING_LOST | FrameFlags.SPEAKING | FrameFlags.NO_GAZE)
"""Flag bits version 1 defines."""

_WHAT = "latent frame"


def check_layout(layout: LatentLayout) -> None:
    """ValueError if `layout` is larger than the format carries."""
    if layout.dim > MAX_CODE_LENGTH or len(layout.segments) > MAX_SEGMENTS:
        raise ValueError(
            f"latent layout has {layout.dim} entries in {len(layout.segments)} segments; the wire format "
            f"carries at most {MAX_CODE_LENGTH} entries in {MAX_SEGMENTS} segments"
        )


def finite_vector(value: np.ndarray, size: int, name: str, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """`value` as a `dtype` vector of `size` finite numbers; WireEncodeError naming `name` otherwise."""
    arr = np.asarray(value)
    if arr.shape != (size,):
        raise WireEncodeError(f"{name} has shape {arr.shape}; it must be ({size},)")
    out = arr.astype(dtype)
    if not np.all(np.isfinite(out)):
        raise WireEncodeError(f"{name} holds NaN or inf")
    return out


def _check_unit(vec: np.ndarray, name: str, error: type[Exception]) -> None:
    norm = float(np.linalg.norm(vec.astype(np.float64)))
    if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
        raise error(f"{name} has norm {norm:.6g}; it must be 1 within {UNIT_NORM_TOLERANCE}")


def encode_latent_frame(frame: LatentFrame, layout: LatentLayout, *, quant: str = "int8") -> bytes:
    """Serialize `frame` as a wire v1 message; WireEncodeError if a value is out of range."""
    check_layout(layout)
    quantizer = get_quantizer(quant)
    if isinstance(frame.sequence, bool) or not 0 <= frame.sequence <= MAX_SEQUENCE:
        raise WireEncodeError(f"frame sequence {frame.sequence} must be in [0, {MAX_SEQUENCE}]")
    if not 0 <= frame.capture_time_us <= MAX_CAPTURE_TIME_US:
        raise WireEncodeError(f"frame capture_time_us {frame.capture_time_us} must be in [0, {MAX_CAPTURE_TIME_US}]")
    flags = int(frame.flags)
    if not 0 <= flags <= MAX_FLAGS:
        raise WireEncodeError(f"frame flags {flags} must be in [0, {MAX_FLAGS}]")
    code = finite_vector(frame.code, layout.dim, "frame code")
    if layout.dim and float(np.max(np.abs(code))) > MAX_CODE_ABS:
        raise WireEncodeError(f"frame code has an entry beyond +-{MAX_CODE_ABS}; scale the code down")
    position = finite_vector(frame.head_pose.position, 3, "head position")
    if float(np.max(np.abs(position))) > MAX_POSITION_M:
        raise WireEncodeError(f"head position {position.tolist()} is beyond +-{MAX_POSITION_M} m")
    orientation = finite_vector(frame.head_pose.orientation, 4, "head orientation")
    _check_unit(orientation, "head orientation", WireEncodeError)
    quantized = quantizer.quantize(code, layout)
    fields: dict[str, object] = {
        "v": WIRE_VERSION,
        "s": int(frame.sequence),
        "t": int(frame.capture_time_us),
        "q": quantizer.wire_id,
        "z": quantized.payload,
    }
    if quantized.scales:
        fields["k"] = quantized.scales
    fields["p"] = np.concatenate([position, orientation]).astype("<f4").tobytes()
    if frame.gaze is not None:
        left = finite_vector(frame.gaze.left, 3, "left gaze")
        right = finite_vector(frame.gaze.right, 3, "right gaze")
        _check_unit(left, "left gaze", WireEncodeError)
        _check_unit(right, "right gaze", WireEncodeError)
        fields["g"] = np.concatenate([left, right]).astype("<f4").tobytes()
    fields["f"] = flags
    data: bytes = msgpack.packb(fields, use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireEncodeError(f"latent frame is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    return data


def _floats(reader: FieldReader, key: str, name: str, count: int) -> np.ndarray:
    raw = reader.get_bin(key, name, 4 * count, exact=4 * count)
    values = np.frombuffer(raw, "<f4").astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise InvalidFieldError(f"{_WHAT} field {key!r} ({name}) holds NaN or inf")
    return values


def decode_latent_frame(data: bytes, layout: LatentLayout) -> LatentFrame:
    """Parse a wire v1 message; raises WireFormatError subclasses with one-line messages."""
    check_layout(layout)
    reader = FieldReader(unpack_map(data, _WHAT, MAX_MESSAGE_BYTES), _WHAT)
    version = reader.get_int("v", "version", 0, 2**32)
    if version != WIRE_VERSION:
        raise UnsupportedVersionError(f"{_WHAT} has format version {version}; this codecav reads {WIRE_VERSION}")
    sequence = reader.get_int("s", "sequence", 0, MAX_SEQUENCE)
    capture_time_us = reader.get_int("t", "capture time", 0, MAX_CAPTURE_TIME_US)
    wire_id = reader.get_int("q", "quantization", 0, 255)
    quantizer = quantizer_for_wire_id(wire_id)
    if quantizer is None:
        raise InvalidFieldError(f"{_WHAT} field 'q' (quantization) is {wire_id}; version 1 knows 0 (int8), 1 (fp16)")
    payload = reader.get_bin("z", "code", 2 * MAX_CODE_LENGTH)
    scales = reader.get_bin("k", "scales", 4 * MAX_SEGMENTS) if quantizer.name == "int8" or reader.has("k") else b""
    code = quantizer.dequantize(QuantizedCode(payload, scales), layout)
    pose = _floats(reader, "p", "head pose", 7)
    if float(np.max(np.abs(pose[:3]))) > MAX_POSITION_M:
        raise InvalidFieldError(f"{_WHAT} field 'p' (head pose) has a position beyond +-{MAX_POSITION_M} m")
    _check_unit(pose[3:], f"{_WHAT} field 'p' (head pose) orientation", InvalidFieldError)
    gaze = None
    if reader.has("g"):
        both = _floats(reader, "g", "gaze", 6)
        _check_unit(both[:3], f"{_WHAT} field 'g' (gaze) left vector", InvalidFieldError)
        _check_unit(both[3:], f"{_WHAT} field 'g' (gaze) right vector", InvalidFieldError)
        gaze = Gaze(left=both[:3].copy(), right=both[3:].copy())
    flags = reader.get_int("f", "flags", 0, MAX_FLAGS)
    return LatentFrame(
        sequence=sequence,
        capture_time_us=capture_time_us,
        code=code,
        head_pose=HeadPose(position=pose[:3].copy(), orientation=pose[3:].copy()),
        gaze=gaze,
        flags=FrameFlags(flags & KNOWN_FLAGS),
    )
