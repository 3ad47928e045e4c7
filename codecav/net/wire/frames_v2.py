"""Wire format v2 of latent frames: a compact binary frame (not msgpack) coded against the avatar's quant table.

Key frames carry every field absolutely; delta frames carry integer residuals against a key frame that the
receiver kept, so a lost delta costs one frame and a lost key frame at most one key interval. Code entries,
head position, orientation (smallest three) and gaze (two angles per eye) are integers; residuals are coded with
Exp-Golomb codes whose order is chosen per field group. Layout, limits and errors: docs/wire-format.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from codecav.assets.package import CodeQuantTable, LatentLayout
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.net.errors import (
    InvalidFieldError,
    LayoutMismatchError,
    MessageTooLargeError,
    TruncatedMessageError,
    UnsupportedVersionError,
    WireEncodeError,
    WireFormatError,
)
from codecav.net.wire.bits import BitReader, BitWriter, read_varint, unzigzag, write_varint, zigzag
from codecav.net.wire.frames import (
    MAX_CAPTURE_TIME_US,
    MAX_MESSAGE_BYTES,
    MAX_POSITION_M,
    MAX_SEQUENCE,
    UNIT_NORM_TOLERANCE,
    check_layout,
    encode_latent_frame,
    finite_vector,
)
from codecav.net.wire.quant import MAX_CODE_ABS

WIRE_VERSION_V2 = 2
"""First byte of every v2 latent frame (a v1 frame starts with a msgpack map byte, 0x80 or above)."""
CAPABILITY_V2 = "latent-v2"
"""What a peer that reads v2 latent frames announces in its Hello caps."""
POSITION_STEP_M = 2.0**-11
"""Head position step: 0.49 mm."""
ROTATION_STEP = 2.0**-12
"""Step of the three smallest quaternion components (orientation error under 0.02 degrees)."""
GAZE_STEP_RAD = 2.0**-10
"""Gaze yaw and pitch step: 0.056 degrees."""
MAX_KEY_DISTANCE = 63
"""Most frames (sequence numbers) a delta frame may be after its key frame (6 bits)."""
TAG_BITS = 10
"""A delta frame names its key frame by the key's sequence modulo 2^10 (34 s at 30 frames/s, far beyond the
5 s after which a silent peer is dropped, so a tag never points at a key frame from before an outage)."""
KEPT_KEYS = 4
"""Key frames a receiver keeps as references (all within KEY_WINDOW sequence numbers, so their tags differ)."""
KEY_WINDOW = 192
"""A receiver forgets key frames more than this many sequence numbers before the newest one."""
DEFAULT_KEY_INTERVAL_US = 100_000
"""A sender starts a key frame once this much capture time passed since the last one (3 frames at 30/s). On
every shipped sample's speech codes 100 ms is also the cheapest interval (docs/wire-format.md), and a lost key
frame costs the least."""
MAX_TIME_DELTA_US = 2**31
"""Largest |capture time - key capture time| of a delta frame, microseconds."""

FLAG_KEY, FLAG_GAZE, FLAG_LOST, FLAG_SPEAKING, FLAG_NO_GAZE = 1, 2, 4, 8, 16
"""Bits of the flags byte (bits 5-7 are ignored on decode, room for later additions)."""

_POS_LIMIT = int(round(MAX_POSITION_M / POSITION_STEP_M))
_ROT_LIMIT = int(math.ceil(math.sqrt(0.5) / ROTATION_STEP)) + 1
_YAW_LIMIT = int(math.ceil(math.pi / GAZE_STEP_RAD))
_PITCH_LIMIT = int(math.ceil(math.pi / 2 / GAZE_STEP_RAD))
_WHAT = "latent frame v2"


class MissingReferenceError(WireFormatError):
    """A delta frame whose key frame this receiver does not hold (lost, late or never sent)."""

    reason = "no_reference"


@dataclass(frozen=True)
class FrameIndices:
    """The integer form of one frame's continuous fields (what v2 codes and what references hold)."""

    code: np.ndarray
    """int64 [D]: round((code - center) / step) per entry of the avatar's quant table."""
    position: tuple[int, int, int]
    """Head position in POSITION_STEP_M units."""
    rotation_index: int
    """Which quaternion component (x, y, z, w) is the largest (and made positive)."""
    rotation: tuple[int, int, int]
    """The other three components in ROTATION_STEP units, in x, y, z, w order."""
    gaze: tuple[int, int, int, int] | None
    """Left yaw, left pitch, right yaw, right pitch in GAZE_STEP_RAD units; None without gaze."""


@dataclass(frozen=True)
class KeyReference:
    """A key frame as kept by sender and receiver: what delta frames are coded against."""

    sequence: int
    """Frame sequence of the key frame."""
    capture_time_us: int
    """Its capture time."""
    indices: FrameIndices
    """Its integer fields."""


@dataclass
class FieldBits:
    """Bits of one encoded frame by field (the closing table of docs/wire-format.md comes from these)."""

    header: int = 0
    """Version and flags byte, and a delta frame's key tag and distance."""
    sequence_time: int = 0
    """Sequence and capture time varints."""
    code: int = 0
    """The latent code's Exp-Golomb orders and values."""
    pose: int = 0
    """Head position and orientation."""
    gaze: int = 0
    """Both eyes' angles."""
    padding: int = 0
    """Zero bits filling the last byte."""

    @property
    def total(self) -> int:
        """All bits of the message."""
        return self.header + self.sequence_time + self.code + self.pose + self.gaze + self.padding


def _gaze_angles(vec: np.ndarray) -> tuple[float, float]:
    x, y, z = (float(v) for v in vec)
    return math.atan2(x, z), math.asin(max(-1.0, min(1.0, y)))


def _gaze_vector(yaw: float, pitch: float) -> np.ndarray:
    return np.array([math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)], np.float32)


def _unit(vec: np.ndarray, name: str) -> np.ndarray:
    norm = float(np.linalg.norm(vec))
    if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
        raise WireEncodeError(f"{name} has norm {norm:.6g}; it must be 1 within {UNIT_NORM_TOLERANCE}")
    return vec / norm


def frame_indices(frame: LatentFrame, layout: LatentLayout, table: CodeQuantTable) -> FrameIndices:
    """The integer fields of `frame`; WireEncodeError if a value is out of the format's range."""
    code = finite_vector(frame.code, layout.dim, "frame code", np.float64)
    if layout.dim and float(np.max(np.abs(code))) > MAX_CODE_ABS:
        raise WireEncodeError(f"frame code has an entry beyond +-{MAX_CODE_ABS}; scale the code down")
    position = finite_vector(frame.head_pose.position, 3, "head position", np.float64)
    if float(np.max(np.abs(position))) > MAX_POSITION_M:
        raise WireEncodeError(f"head position {position.tolist()} is beyond +-{MAX_POSITION_M} m")
    quat = _unit(finite_vector(frame.head_pose.orientation, 4, "head orientation", np.float64), "head orientation")
    largest = int(np.argmax(np.abs(quat)))
    if quat[largest] < 0:
        quat = -quat
    others = [float(quat[i]) for i in range(4) if i != largest]
    gaze = None
    if frame.gaze is not None:
        ly, lp = _gaze_angles(_unit(finite_vector(frame.gaze.left, 3, "left gaze", np.float64), "left gaze"))
        ry, rp = _gaze_angles(_unit(finite_vector(frame.gaze.right, 3, "right gaze", np.float64), "right gaze"))
        gaze = (round(ly / GAZE_STEP_RAD), round(lp / GAZE_STEP_RAD), round(ry / GAZE_STEP_RAD),
                round(rp / GAZE_STEP_RAD))
    pos = [round(float(p) / POSITION_STEP_M) for p in position]
    rot = [round(c / ROTATION_STEP) for c in others]
    return FrameIndices(table.quantize(code.astype(np.float32)), (pos[0], pos[1], pos[2]), largest,
                        (rot[0], rot[1], rot[2]), gaze)


def _check_frame_header(frame: LatentFrame) -> int:
    if isinstance(frame.sequence, bool) or not 0 <= frame.sequence <= MAX_SEQUENCE:
        raise WireEncodeError(f"frame sequence {frame.sequence} must be in [0, {MAX_SEQUENCE}]")
    if not 0 <= frame.capture_time_us <= MAX_CAPTURE_TIME_US:
        raise WireEncodeError(f"frame capture_time_us {frame.capture_time_us} must be in [0, {MAX_CAPTURE_TIME_US}]")
    flags = int(frame.flags)
    return ((FLAG_LOST if flags & FrameFlags.TRACKING_LOST else 0)
            | (FLAG_SPEAKING if flags & FrameFlags.SPEAKING else 0)
            | (FLAG_NO_GAZE if flags & FrameFlags.NO_GAZE else 0))


def can_reference(frame: LatentFrame, key: KeyReference | None) -> bool:
    """Whether `frame` can be sent as a delta against `key` (distance and time within the format's limits)."""
    return (key is not None and 1 <= frame.sequence - key.sequence <= MAX_KEY_DISTANCE
            and abs(frame.capture_time_us - key.capture_time_us) < MAX_TIME_DELTA_US)


def encode_latent_frame_v2(frame: LatentFrame, layout: LatentLayout, table: CodeQuantTable, *,
                           key: KeyReference | None = None, bits: FieldBits | None = None
                           ) -> tuple[bytes, KeyReference | None]:
    """(message, reference): a key frame when `key` is None (its reference returned for later deltas), else a
    delta frame against `key` (reference None). `bits` is filled with the size of each field. WireEncodeError
    if a value is out of range or `frame` cannot reference `key` (see can_reference)."""
    check_layout(layout)
    flags = _check_frame_header(frame)
    indices = frame_indices(frame, layout, table)
    if key is not None and not can_reference(frame, key):
        raise WireEncodeError(f"frame {frame.sequence} cannot be a delta of key frame {key.sequence} "
                              f"(at most {MAX_KEY_DISTANCE} frames and {MAX_TIME_DELTA_US} us later)")
    flags |= (FLAG_GAZE if indices.gaze is not None else 0) | (FLAG_KEY if key is None else 0)
    fb = bits if bits is not None else FieldBits()
    out = bytearray([WIRE_VERSION_V2, flags])
    if key is None:
        fb.header = 16
        write_varint(out, frame.sequence)
        write_varint(out, frame.capture_time_us)
        fb.sequence_time = 8 * (len(out) - 2)
    else:
        out += (((key.sequence % (1 << TAG_BITS)) << 6) | (frame.sequence - key.sequence)).to_bytes(2, "big")
        fb.header = 32
        write_varint(out, zigzag(frame.capture_time_us - key.capture_time_us))
        fb.sequence_time = 8 * (len(out) - 4)
    writer = BitWriter()
    ref = key.indices if key is not None else None
    start = 0
    for seg in layout.segments:
        part = indices.code[start:start + seg.size]
        base = ref.code[start:start + seg.size] if ref is not None else np.zeros(seg.size, np.int64)
        writer.signed_run([int(v) for v in part - base])
        start += seg.size
    fb.code = writer.bits
    writer.signed_run([p - (ref.position[i] if ref else 0) for i, p in enumerate(indices.position)])
    writer.write(indices.rotation_index, 2)
    same = ref is not None and ref.rotation_index == indices.rotation_index
    writer.signed_run([r - (ref.rotation[i] if ref and same else 0) for i, r in enumerate(indices.rotation)])
    fb.pose = writer.bits - fb.code
    if indices.gaze is not None:
        base_gaze = ref.gaze if ref is not None and ref.gaze is not None else (0, 0, 0, 0)
        writer.signed_run([g - base_gaze[i] for i, g in enumerate(indices.gaze)])
    fb.gaze = writer.bits - fb.code - fb.pose
    fb.padding = -writer.bits % 8
    out += writer.to_bytes()
    if len(out) > MAX_MESSAGE_BYTES:
        raise WireEncodeError(f"latent frame is {len(out)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    reference = KeyReference(frame.sequence, frame.capture_time_us, indices) if key is None else None
    return bytes(out), reference


def _check_range(values: list[int], limit: int, what: str) -> None:
    if any(abs(v) > limit for v in values):
        raise InvalidFieldError(f"{_WHAT} {what} is out of range (|value| > {limit} steps)")


def decode_latent_frame_v2(data: bytes, layout: LatentLayout, table: CodeQuantTable | None,
                           keys: dict[int, KeyReference]) -> tuple[LatentFrame, KeyReference | None]:
    """(frame, reference) of a v2 message: `keys` maps tags (sequence mod 2^TAG_BITS) to the key frames held; a key
    frame also returns its reference (the caller keeps it). WireFormatError subclasses with one-line messages;
    MissingReferenceError for a delta whose key is not in `keys`."""
    check_layout(layout)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidFieldError(f"{_WHAT} must be binary, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(f"latent frame is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    if len(data) < 2:
        raise TruncatedMessageError(f"{_WHAT} is {len(data)} bytes; the header alone is 2")
    if data[0] != WIRE_VERSION_V2:
        raise UnsupportedVersionError(f"latent frame has format version byte {data[0]}; v2 frames start with 2")
    if table is None:
        raise LayoutMismatchError(f"{_WHAT} arrived but the sender's avatar has no quant table (format v2 "
                                  "member quant_table.npz); it must send v1")
    flags = data[1]
    if flags & FLAG_KEY:
        sequence, pos = read_varint(data, 2, "sequence")
        if sequence > MAX_SEQUENCE:
            raise InvalidFieldError(f"{_WHAT} sequence {sequence} is beyond {MAX_SEQUENCE}")
        capture_time_us, pos = read_varint(data, pos, "capture time")
        if capture_time_us > MAX_CAPTURE_TIME_US:
            raise InvalidFieldError(f"{_WHAT} capture time {capture_time_us} is beyond {MAX_CAPTURE_TIME_US}")
        ref = None
    else:
        if len(data) < 4:
            raise TruncatedMessageError(f"{_WHAT} delta header is {len(data)} bytes; it needs 4")
        header = int.from_bytes(data[2:4], "big")
        tag, distance = header >> 6, header & 0x3F
        if not 1 <= distance <= MAX_KEY_DISTANCE:
            raise InvalidFieldError(f"{_WHAT} key distance is {distance}; it must be in [1, {MAX_KEY_DISTANCE}]")
        key = keys.get(tag)
        if key is None:
            raise MissingReferenceError(f"{_WHAT} is a delta of key frame tag {tag}, which this receiver does not "
                                        "hold (lost or late); waiting for the next key frame")
        delta, pos = read_varint(data, 4, "capture time delta")
        capture_time_us = key.capture_time_us + unzigzag(delta)
        if not 0 <= capture_time_us <= MAX_CAPTURE_TIME_US or abs(unzigzag(delta)) >= MAX_TIME_DELTA_US:
            raise InvalidFieldError(f"{_WHAT} capture time delta {unzigzag(delta)} us is out of range")
        sequence = key.sequence + distance
        if sequence > MAX_SEQUENCE:
            raise InvalidFieldError(f"{_WHAT} sequence {sequence} is beyond {MAX_SEQUENCE}")
        ref = key.indices
    reader = BitReader(data[pos:])
    parts = []
    start = 0
    for seg in layout.segments:
        values = np.array(reader.signed_run(seg.size, "code"), np.int64)
        _check_range(values.tolist(), 2**40, "code")
        parts.append(values + (ref.code[start:start + seg.size] if ref is not None else 0))
        start += seg.size
    indices_code = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    position = reader.signed_run(3, "head position")
    position = [p + (ref.position[i] if ref else 0) for i, p in enumerate(position)]
    _check_range(position, _POS_LIMIT, "head position")
    rotation_index = reader.read(2, "head orientation")
    same = ref is not None and ref.rotation_index == rotation_index
    rotation = [r + (ref.rotation[i] if ref and same else 0) for i, r in enumerate(reader.signed_run(3, "head "
                                                                                                        "orientation"))]
    _check_range(rotation, _ROT_LIMIT, "head orientation")
    gaze = None
    if flags & FLAG_GAZE:
        base = ref.gaze if ref is not None and ref.gaze is not None else (0, 0, 0, 0)
        values_g = [g + base[i] for i, g in enumerate(reader.signed_run(4, "gaze"))]
        _check_range(values_g[0::2], _YAW_LIMIT, "gaze yaw")
        _check_range(values_g[1::2], _PITCH_LIMIT, "gaze pitch")
        gaze = (values_g[0], values_g[1], values_g[2], values_g[3])
    reader.finish()
    code = table.dequantize(indices_code)
    if layout.dim and not (np.all(np.isfinite(code)) and float(np.max(np.abs(code))) <= MAX_CODE_ABS):
        raise InvalidFieldError(f"{_WHAT} code has an entry beyond +-{MAX_CODE_ABS}")
    others = np.array(rotation, np.float64) * ROTATION_STEP
    rest = 1.0 - float(others @ others)
    if rest < -2 * UNIT_NORM_TOLERANCE:
        raise InvalidFieldError(f"{_WHAT} head orientation is not a unit quaternion")
    quat = np.insert(others, rotation_index, math.sqrt(max(rest, 0.0)))
    quat /= np.linalg.norm(quat)
    pose = HeadPose(position=(np.array(position, np.float64) * POSITION_STEP_M).astype(np.float32),
                    orientation=quat.astype(np.float32))
    frame_gaze = None
    if gaze is not None:
        frame_gaze = Gaze(left=_gaze_vector(gaze[0] * GAZE_STEP_RAD, gaze[1] * GAZE_STEP_RAD),
                          right=_gaze_vector(gaze[2] * GAZE_STEP_RAD, gaze[3] * GAZE_STEP_RAD))
    frame_flags = ((FrameFlags.TRACKING_LOST if flags & FLAG_LOST else FrameFlags(0))
                   | (FrameFlags.SPEAKING if flags & FLAG_SPEAKING else FrameFlags(0))
                   | (FrameFlags.NO_GAZE if flags & FLAG_NO_GAZE else FrameFlags(0)))
    frame = LatentFrame(sequence=sequence, capture_time_us=capture_time_us, code=code, head_pose=pose,
                        gaze=frame_gaze, flags=frame_flags)
    indices = FrameIndices(indices_code, (position[0], position[1], position[2]), rotation_index,
                           (rotation[0], rotation[1], rotation[2]), gaze)
    reference = KeyReference(sequence, capture_time_us, indices) if flags & FLAG_KEY else None
    return frame, reference


@dataclass
class LatentStreamEncoder:
    """The sending side of one v2 stream: a key frame first, then every `key_interval_us` of capture time (or
    when a frame cannot reference the last key); deltas in between. One per set of receivers of the same bytes."""

    layout: LatentLayout
    """The sender avatar's latent layout."""
    table: CodeQuantTable
    """The sender avatar's quant table (its package's quant_table.npz)."""
    key_interval_us: int = DEFAULT_KEY_INTERVAL_US
    """Capture time between key frames: the longest a lost key frame can leave a receiver without a face."""
    last_bits: FieldBits = field(default_factory=FieldBits)
    """Sizes of the fields of the last frame encoded."""
    key: KeyReference | None = None
    """The key frame deltas are coded against."""

    def force_key(self) -> None:
        """Make the next frame a key frame (e.g. a receiver joined)."""
        self.key = None

    def encode(self, frame: LatentFrame) -> bytes:
        """The v2 message of `frame`; WireEncodeError if it holds a value out of range."""
        key = self.key
        if key is not None and (not can_reference(frame, key)
                                or frame.capture_time_us - key.capture_time_us >= self.key_interval_us):
            key = None
        self.last_bits = FieldBits()
        data, reference = encode_latent_frame_v2(frame, self.layout, self.table, key=key, bits=self.last_bits)
        if reference is not None:
            self.key = reference
        return data


@dataclass
class LatentStreamDecoder:
    """The receiving side of one sender's v2 stream: decodes frames and keeps the last KEPT_KEYS key frames."""

    layout: LatentLayout
    """The sender avatar's latent layout."""
    table: CodeQuantTable | None
    """The sender avatar's quant table (None: the avatar has none, so every v2 frame is refused)."""
    keys: dict[int, KeyReference] = field(default_factory=dict)
    """Key frames held, by tag (sequence mod 2^TAG_BITS)."""

    def decode(self, data: bytes) -> LatentFrame:
        """The frame of one v2 message (a key frame is kept as a reference); WireFormatError if invalid."""
        frame, reference = decode_latent_frame_v2(data, self.layout, self.table, self.keys)
        if reference is not None:
            self._keep(reference)
        return frame

    def _keep(self, reference: KeyReference) -> None:
        held = [k for k in self.keys.values() if k.sequence != reference.sequence] + [reference]
        newest = max(k.sequence for k in held)
        held = sorted((k for k in held if k.sequence > newest - KEY_WINDOW), key=lambda k: k.sequence)[-KEPT_KEYS:]
        self.keys = {k.sequence % (1 << TAG_BITS): k for k in held}


@dataclass(frozen=True)
class EncodedFrame:
    """One frame as each wire version carries it (the sender picks per receiver by its Hello caps)."""

    v1: bytes
    """The v1 message (every peer reads it)."""
    v2: bytes | None
    """The v2 message, or None when the sender sends no v2 (no quant table, or fp16 asked for)."""

    def for_caps(self, caps: tuple[str, ...] | None) -> bytes:
        """The message for a receiver that announced `caps` (None: its Hello has not arrived)."""
        return self.v2 if self.v2 is not None and caps is not None and CAPABILITY_V2 in caps else self.v1

    def for_all(self, caps: list[tuple[str, ...] | None]) -> bytes:
        """The one message for receivers that all get the same bytes (an SFU): v2 only if every one reads it."""
        return self.v2 if self.v2 is not None and caps and all(c is not None and CAPABILITY_V2 in c for c in caps) \
            else self.v1


class LatentFrameSender:
    """Encodes each outgoing frame as v1 and, when the avatar has a quant table and the quantization is int8, as
    v2 on one LatentStreamEncoder shared by every v2 receiver (they get the same bytes; a receiver that joins
    mid-stream decodes from the next key frame on)."""

    def __init__(self, layout: LatentLayout, table: CodeQuantTable | None, quant: str = "int8",
                 key_interval_us: int = DEFAULT_KEY_INTERVAL_US) -> None:
        """`quant` is the v1 quantization; 'fp16' asks for float precision, so no v2 is sent then."""
        self.layout = layout
        self.quant = quant
        self.stream = LatentStreamEncoder(layout, table, key_interval_us) \
            if table is not None and quant == "int8" else None
        """The v2 stream state, or None when this sender sends only v1."""

    def encode(self, frame: LatentFrame) -> EncodedFrame:
        """`frame` in every version sent; WireEncodeError if it holds a value out of range."""
        v1 = encode_latent_frame(frame, self.layout, quant=self.quant)
        return EncodedFrame(v1, self.stream.encode(frame) if self.stream is not None else None)
