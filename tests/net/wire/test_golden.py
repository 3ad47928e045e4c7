"""Golden wire messages, byte for byte: valid ones re-encode exactly, invalid ones fail with exact messages.

Regenerate after an intentional format change with:
    CODECAV_REGEN_GOLDEN=1 .venv/bin/pytest tests/net/wire/test_golden.py
then review `git diff --stat tests/net/wire/golden` and the docs' size figures.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import msgpack
import numpy as np
import pytest

from codecav.net import errors
from codecav.net.wire.control import (
    AvatarChunk,
    AvatarRefused,
    Hello,
    Pong,
    decode_control_message,
    encode_control_message,
)
from codecav.net.wire.frames import decode_latent_frame, encode_latent_frame
from tests.net.frames import LAYOUT_256, sample_frame

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("CODECAV_REGEN_GOLDEN") == "1"


def _valid_int8() -> bytes:
    return encode_latent_frame(sample_frame(), LAYOUT_256)


def _mutated(change: Callable[[dict[str, object]], None]) -> bytes:
    fields = msgpack.unpackb(encode_latent_frame(sample_frame(with_gaze=False), LAYOUT_256))
    change(fields)
    out: bytes = msgpack.packb(fields, use_bin_type=True)
    return out


def _set(key: str, value: object) -> Callable[[dict[str, object]], None]:
    return lambda fields: fields.__setitem__(key, value)


def _nan_scale(fields: dict[str, object]) -> None:
    raw = fields["k"]
    assert isinstance(raw, bytes)
    scales = np.frombuffer(raw, "<f4").copy()
    scales[1] = np.nan
    fields["k"] = scales.tobytes()


def _bad_quaternion(fields: dict[str, object]) -> None:
    fields["p"] = np.array([0, 0, 0, 0, 0, 0, 0.9], "<f4").tobytes()


LATENT_CASES: dict[str, Callable[[], bytes]] = {
    "latent_int8_gaze": _valid_int8,
    "latent_int8_no_gaze": lambda: encode_latent_frame(sample_frame(with_gaze=False), LAYOUT_256),
    "latent_fp16_gaze": lambda: encode_latent_frame(sample_frame(), LAYOUT_256, quant="fp16"),
    "latent_unknown_key": lambda: _mutated(_set("x", "a field from a future minor version")),
    "latent_truncated": lambda: _valid_int8()[:-9],
    "latent_invalid_type": lambda: _mutated(_set("s", "4242")),
    "latent_negative_sequence": lambda: _mutated(_set("s", -1)),
    "latent_absurd_timestamp": lambda: _mutated(_set("t", 2**60)),
    "latent_oversized": lambda: _mutated(_set("x", b"\0" * 16384)),
    "latent_nan_scale": lambda: _mutated(_nan_scale),
    "latent_short_code": lambda: _mutated(_set("z", b"\1" * 255)),
    "latent_bad_quaternion": lambda: _mutated(_bad_quaternion),
    "latent_version_2": lambda: _mutated(_set("v", 2)),
    "latent_not_a_map": lambda: msgpack.packb([1, 2, 3]),
    "latent_trailing_bytes": lambda: _valid_int8() + b"\xc0",
}

LATENT_ERRORS: dict[str, tuple[type[errors.WireFormatError], str]] = {
    "latent_truncated": (errors.TruncatedMessageError, "latent frame is truncated: the msgpack data ends early"),
    "latent_invalid_type": (errors.InvalidFieldError, "latent frame field 's' (sequence) must be an int, got str"),
    "latent_negative_sequence": (
        errors.InvalidFieldError,
        "latent frame field 's' (sequence) is -1; it must be in [0, 9223372036854775807]",
    ),
    "latent_absurd_timestamp": (
        errors.InvalidFieldError,
        "latent frame field 't' (capture time) is 1152921504606846976; it must be in [0, 4503599627370496]",
    ),
    "latent_oversized": (errors.MessageTooLargeError, "latent frame is 16720 bytes; the limit is 16384"),
    "latent_nan_scale": (errors.InvalidFieldError, "latent frame field 'k' (scales) holds NaN or inf"),
    "latent_short_code": (
        errors.LayoutMismatchError,
        "latent frame code has 255 int8 entries; the avatar's layout has 256",
    ),
    "latent_bad_quaternion": (
        errors.InvalidFieldError,
        "latent frame field 'p' (head pose) orientation has norm 0.9; it must be 1 within 0.001",
    ),
    "latent_version_2": (errors.UnsupportedVersionError, "latent frame has format version 2; this codecav reads 1"),
    "latent_not_a_map": (errors.MalformedMessageError, "latent frame must be a msgpack map, got array"),
    "latent_trailing_bytes": (errors.MalformedMessageError, "latent frame has 1 trailing bytes after the msgpack map"),
}

CONTROL_CASES: dict[str, Callable[[], bytes]] = {
    "control_hello": lambda: encode_control_message(Hello("alice", "sample-ada", "ab" * 32, ("int8", "fp16"))),
    "control_pong": lambda: encode_control_message(Pong(7, 1_000_000, 1_250_300, 1_250_420)),
    "control_avatar_chunk": lambda: encode_control_message(AvatarChunk("cd" * 32, 3, bytes(range(64)))),
    "control_avatar_refused": lambda: encode_control_message(AvatarRefused("cd" * 32, "invalid_package:trial")),
    "control_unknown_type": lambda: msgpack.packb({"v": 1, "m": "dance"}),
    "control_bad_sha": lambda: msgpack.packb({"v": 1, "m": "avreq", "avatar": "ada", "sha": "AB" * 32}),
}

CONTROL_ERRORS: dict[str, tuple[type[errors.WireFormatError], str]] = {
    "control_unknown_type": (
        errors.UnknownMessageTypeError,
        "control message has unknown type 'dance'; version 1 knows hello, ping, pong, avreq, avchunk, avdone, bye, "
        "avrefused",
    ),
    "control_bad_sha": (
        errors.InvalidFieldError,
        "avreq message field 'sha' (avatar sha256) must be 64 lowercase hex digits",
    ),
}

ALL_CASES = {**LATENT_CASES, **CONTROL_CASES}


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_golden_bytes(name: str) -> None:
    """Each golden message is exactly what the builder (encoder or mutation) produces today."""
    path = GOLDEN / f"{name}.bin"
    data = ALL_CASES[name]()
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert path.read_bytes() == data, f"{path.name} differs; if intended, regenerate (see module docstring)"


@pytest.mark.parametrize("name", sorted(LATENT_ERRORS))
def test_golden_latent_errors(name: str) -> None:
    """Invalid latent goldens raise the exact error class and one-line message."""
    cls, message = LATENT_ERRORS[name]
    with pytest.raises(cls) as info:
        decode_latent_frame((GOLDEN / f"{name}.bin").read_bytes(), LAYOUT_256)
    assert str(info.value) == message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(CONTROL_ERRORS))
def test_golden_control_errors(name: str) -> None:
    """Invalid control goldens raise the exact error class and message."""
    cls, message = CONTROL_ERRORS[name]
    with pytest.raises(cls) as info:
        decode_control_message((GOLDEN / f"{name}.bin").read_bytes())
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["latent_int8_gaze", "latent_int8_no_gaze", "latent_fp16_gaze", "latent_unknown_key"])
def test_golden_valid_latent_decode_and_reencode(name: str) -> None:
    """Valid goldens decode to the sample frame (within the bound) and re-encode to the same bytes."""
    data = (GOLDEN / f"{name}.bin").read_bytes()
    frame = decode_latent_frame(data, LAYOUT_256)
    expected = sample_frame(with_gaze="no_gaze" not in name and "unknown" not in name)
    assert frame.sequence == expected.sequence and frame.capture_time_us == expected.capture_time_us
    assert frame.flags == expected.flags
    assert (frame.gaze is None) == (expected.gaze is None)
    np.testing.assert_array_equal(frame.head_pose.orientation, expected.head_pose.orientation)
    quant = "fp16" if "fp16" in name else "int8"
    reencoded = encode_latent_frame(frame, LAYOUT_256, quant=quant)
    if name == "latent_unknown_key":
        assert reencoded == (GOLDEN / "latent_int8_no_gaze.bin").read_bytes()
    else:
        assert reencoded == data


@pytest.mark.parametrize("name", ["control_hello", "control_pong", "control_avatar_chunk"])
def test_golden_valid_control_reencode(name: str) -> None:
    """Valid control goldens decode and re-encode to the same bytes."""
    data = (GOLDEN / f"{name}.bin").read_bytes()
    assert encode_control_message(decode_control_message(data)) == data


def test_bytes_per_frame() -> None:
    """The size figures quoted in docs/wire-format.md (256-d code, three segments)."""
    sizes = {name: len((GOLDEN / f"{name}.bin").read_bytes()) for name in LATENT_CASES if "gaze" in name}
    assert sizes == {"latent_int8_gaze": 359, "latent_int8_no_gaze": 331, "latent_fp16_gaze": 599}
