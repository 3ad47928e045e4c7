"""Latent wire format: quantization bound, field checks, receiver counters."""

from __future__ import annotations

import dataclasses

import msgpack
import numpy as np
import pytest

from codecav.assets.package import LatentLayout, LatentSegment
from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.net import errors
from codecav.net.receiver import LatentFrameReceiver
from codecav.net.wire.frames import decode_latent_frame, encode_latent_frame
from codecav.net.wire.quant import MAX_CODE_ABS, get_quantizer
from tests.net.frames import LAYOUT_256, sample_frame, unit


@pytest.mark.parametrize("quant", ["int8", "fp16"])
def test_round_trip_within_bound(quant: str) -> None:
    """Random codes with segment peaks from 1e-3 to 1e3 come back within the stated bound."""
    rng = np.random.default_rng(1)
    q = get_quantizer(quant)
    for _ in range(50):
        code = (rng.standard_normal(256) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
        frame = dataclasses.replace(sample_frame(), code=code)
        out = decode_latent_frame(encode_latent_frame(frame, LAYOUT_256, quant=quant), LAYOUT_256)
        err = np.abs(out.code.astype(np.float64) - code.astype(np.float64))
        assert np.all(err <= q.error_bound(code, LAYOUT_256))


def test_int8_bound_is_about_half_a_step() -> None:
    """The int8 bound is max|segment| / 254 and real errors come close to it (the bound is not loose)."""
    code = np.linspace(-1, 1, 256, dtype=np.float32)
    q = get_quantizer("int8")
    out = q.dequantize(q.quantize(code, LAYOUT_256), LAYOUT_256)
    err = np.abs(out - code)
    bound = q.error_bound(code, LAYOUT_256)
    assert np.all(err <= bound)
    assert err.max() > 0.5 * bound.max()
    assert bound[0] == pytest.approx(1.0 / 254, rel=1e-4)


def test_zero_and_tiny_segments() -> None:
    """All-zero and sub-1e-30 segments travel as zero scale, exactly zero."""
    code = np.zeros(256, np.float32)
    code[200] = 1e-35
    code[250] = 5.0
    out = decode_latent_frame(encode_latent_frame(dataclasses.replace(sample_frame(), code=code), LAYOUT_256),
                              LAYOUT_256)
    assert np.all(out.code[:224] == 0)
    assert out.code[250] == pytest.approx(5.0)


def test_fields_round_trip_exactly() -> None:
    """Sequence, time, flags, pose and gaze are lossless."""
    frame = sample_frame()
    out = decode_latent_frame(encode_latent_frame(frame, LAYOUT_256), LAYOUT_256)
    assert (out.sequence, out.capture_time_us, out.flags) == (frame.sequence, frame.capture_time_us, frame.flags)
    np.testing.assert_array_equal(out.head_pose.position, frame.head_pose.position)
    assert out.gaze is not None and frame.gaze is not None
    np.testing.assert_array_equal(out.gaze.left, frame.gaze.left)
    np.testing.assert_array_equal(out.gaze.right, frame.gaze.right)
    assert out.code.dtype == np.float32 and out.code.flags.writeable


def test_unknown_flag_bits_are_dropped() -> None:
    """Bits a later version may define do not reach this version's FrameFlags."""
    fields = msgpack.unpackb(encode_latent_frame(sample_frame(), LAYOUT_256))
    fields["f"] = 2 | 1024
    assert decode_latent_frame(msgpack.packb(fields), LAYOUT_256).flags == FrameFlags.SPEAKING


def test_missing_field_message() -> None:
    """A missing required field is named."""
    fields = msgpack.unpackb(encode_latent_frame(sample_frame(), LAYOUT_256))
    del fields["p"]
    with pytest.raises(errors.MissingFieldError, match=r"^latent frame is missing field 'p' \(head pose\)$"):
        decode_latent_frame(msgpack.packb(fields), LAYOUT_256)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("q", 7, "latent frame field 'q' (quantization) is 7; version 1 knows 0 (int8), 1 (fp16)"),
        ("k", np.array([1, -1, 1], "<f4").tobytes(),
         "latent frame field 'k' (scales) must be in [0, 515.779541015625]"),
        ("k", np.array([1, np.inf, 1], "<f4").tobytes(), "latent frame field 'k' (scales) holds NaN or inf"),
        ("k", b"\0" * 8, "latent frame has 2 scales (8 bytes); the avatar's layout has 3 segments"),
        ("z", b"\x80" * 256, "latent frame field 'z' (code) holds -128; int8 entries must be in [-127, 127]"),
        ("p", b"\0" * 27, "latent frame field 'p' (head pose) has 27 bytes; it must have 28"),
        ("p", np.array([2000, 0, 0, 0, 0, 0, 1], "<f4").tobytes(),
         "latent frame field 'p' (head pose) has a position beyond +-1000.0 m"),
        ("p", np.array([np.nan, 0, 0, 0, 0, 0, 1], "<f4").tobytes(),
         "latent frame field 'p' (head pose) holds NaN or inf"),
        ("g", np.array([0, 0, 2, 0, 0, 1], "<f4").tobytes(),
         "latent frame field 'g' (gaze) left vector has norm 2; it must be 1 within 0.001"),
        ("g", "gaze", "latent frame field 'g' (gaze) must be bin, got str"),
        ("f", True, "latent frame field 'f' (flags) must be an int, got bool"),
        ("f", 2**32, "latent frame field 'f' (flags) is 4294967296; it must be in [0, 4294967295]"),
    ],
)
def test_invalid_fields(key: str, value: object, message: str) -> None:
    """Each field is checked for type, size, range and finiteness with an exact message."""
    fields = msgpack.unpackb(encode_latent_frame(sample_frame(), LAYOUT_256))
    fields[key] = value
    with pytest.raises(errors.WireFormatError) as info:
        decode_latent_frame(msgpack.packb(fields, use_bin_type=True), LAYOUT_256)
    assert str(info.value) == message


def test_fp16_rejects_scales_and_nan() -> None:
    """fp16 messages carry no scales and no NaN."""
    fields = msgpack.unpackb(encode_latent_frame(sample_frame(), LAYOUT_256, quant="fp16"))
    fields["z"] = np.full(256, np.nan, "<f2").tobytes()
    with pytest.raises(errors.InvalidFieldError, match="holds NaN or inf"):
        decode_latent_frame(msgpack.packb(fields), LAYOUT_256)
    fields["k"] = b"\0" * 12
    with pytest.raises(errors.InvalidFieldError, match="must be absent in fp16 mode"):
        decode_latent_frame(msgpack.packb(fields), LAYOUT_256)


@pytest.mark.parametrize(
    ("data", "cls", "message"),
    [
        (b"", errors.TruncatedMessageError, "latent frame is empty"),
        (b"\xc1", errors.MalformedMessageError, "latent frame is not msgpack within the limits of the format"),
        (b"\xd4\x05\x00", errors.MalformedMessageError, "latent frame is not msgpack within the limits of the format"),
        (b"\xc7\x00\x05", errors.MalformedMessageError, "latent frame contains a msgpack ext type; none are allowed"),
        (b"\x81\x01\x02", errors.MalformedMessageError, "latent frame is not msgpack within the limits of the format"),
        (b"\x81\xa1\xff\x01", errors.MalformedMessageError, "latent frame contains a string that is not UTF-8"),
        (b"\x91" * 300 + b"\x01", errors.MalformedMessageError, "latent frame must be a msgpack map, got array"),
        (b"\xde\x00\x40" + b"\xa1a\x01" * 64, errors.MalformedMessageError,
         "latent frame is not msgpack within the limits of the format"),
    ],
)
def test_strict_unpacking(data: bytes, cls: type[errors.WireFormatError], message: str) -> None:
    """Invalid msgpack, ext types, non-string keys, deep nesting and huge maps are refused."""
    with pytest.raises(cls) as info:
        decode_latent_frame(data, LAYOUT_256)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (dataclasses.replace(sample_frame(), sequence=-1), "frame sequence -1 must be in"),
        (dataclasses.replace(sample_frame(), capture_time_us=-5), "frame capture_time_us -5 must be in"),
        (dataclasses.replace(sample_frame(), code=np.zeros(10, np.float32)), r"frame code has shape \(10,\)"),
        (dataclasses.replace(sample_frame(), code=np.full(256, np.nan, np.float32)), "frame code holds NaN or inf"),
        (dataclasses.replace(sample_frame(), code=np.full(256, 1e5, np.float32)), "beyond \\+-65504"),
        (dataclasses.replace(sample_frame(), head_pose=HeadPose(np.zeros(3, np.float32), np.ones(4, np.float32))),
         "head orientation has norm 2"),
        (dataclasses.replace(sample_frame(), gaze=Gaze(unit([0, 0, 1]), np.zeros(3, np.float32))),
         "right gaze has norm 0"),
    ],
)
def test_encoder_refuses_what_decoder_would(frame: LatentFrame, message: str) -> None:
    """The encoder never produces a message the decoder refuses."""
    with pytest.raises(errors.WireEncodeError, match=message):
        encode_latent_frame(frame, LAYOUT_256)


def test_unknown_quantizer_and_huge_layout() -> None:
    """Lookups name what is missing; layouts beyond the limits are refused."""
    with pytest.raises(ValueError, match=r"unknown code quantization 'int4'; use one of \['fp16', 'int8'\]"):
        encode_latent_frame(sample_frame(), LAYOUT_256, quant="int4")
    big = LatentLayout((LatentSegment("all", 5000),))
    with pytest.raises(ValueError, match="carries at most 4096 entries"):
        decode_latent_frame(b"\x80", big)


def test_max_size_code_fits() -> None:
    """A 4096-d fp16 code in 64 segments fits the message limit."""
    layout = LatentLayout(tuple(LatentSegment(f"s{i}", 64) for i in range(64)))
    frame = dataclasses.replace(sample_frame(), code=np.full(4096, MAX_CODE_ABS, np.float32))
    for quant in ("int8", "fp16"):
        out = decode_latent_frame(encode_latent_frame(frame, layout, quant=quant), layout)
        assert float(out.code.max()) == pytest.approx(MAX_CODE_ABS)


def test_receiver_counts_instead_of_raising() -> None:
    """LatentFrameReceiver drops invalid messages by reason and keeps going."""
    rx = LatentFrameReceiver(LAYOUT_256)
    good = encode_latent_frame(sample_frame(), LAYOUT_256)
    inputs: list[bytes | str] = [good, good[:-3], b"\xc1", "text", good + b"\0", b"\0" * 20000, good]
    results = [rx.receive(data) for data in inputs]
    assert [r is not None for r in results] == [True, False, False, False, False, False, True]
    assert rx.stats.accepted == 2
    assert rx.stats.dropped == {"truncated": 1, "malformed": 3, "too_large": 1}
    assert rx.stats.total_dropped == 5
    assert rx.stats.last_error == "latent frame is 20000 bytes; the limit is 16384"
