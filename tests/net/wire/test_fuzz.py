"""Hypothesis fuzzing of the decoders: only WireFormatError ever escapes; valid frames round-trip."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from codecav.latent import FrameFlags
from codecav.net.errors import WireFormatError
from codecav.net.wire.control import decode_control_message, encode_control_message
from codecav.net.wire.frames import decode_latent_frame, encode_latent_frame
from codecav.net.wire.quant import get_quantizer
from tests.net.frames import LAYOUT_256, sample_frame

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = [
    encode_latent_frame(sample_frame(), LAYOUT_256),
    encode_latent_frame(sample_frame(with_gaze=False), LAYOUT_256, quant="fp16"),
]


def _decode_or_wire_error(data: bytes) -> None:
    try:
        decode_latent_frame(data, LAYOUT_256)
    except WireFormatError as exc:
        assert "\n" not in str(exc)
    try:
        decode_control_message(data)
    except WireFormatError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    """Random bytes raise nothing but WireFormatError."""
    _decode_or_wire_error(data)


@FUZZ
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 700),
)
def test_mutated_valid_messages(base: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """Valid messages with bytes overwritten and cut short raise nothing but WireFormatError."""
    data = bytearray(base)
    for pos, value in flips:
        data[pos % len(data)] = value
    _decode_or_wire_error(bytes(data[: len(data) - cut % 40]))


_json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(st.sampled_from(VALID), st.sampled_from(list("vstqzkpgfx")), _json_like)
def test_valid_messages_with_a_field_replaced(base: bytes, key: str, value: object) -> None:
    """Any msgpack value in any field is refused cleanly (or accepted if it happens to be valid)."""
    import msgpack

    fields = msgpack.unpackb(base)
    fields[key] = value
    try:
        data = msgpack.packb(fields, use_bin_type=True)
    except (OverflowError, ValueError):
        return
    _decode_or_wire_error(data)


_codes = arrays(np.float32, 256, elements=st.floats(-65504, 65504, width=32))


@settings(max_examples=150, deadline=None)
@given(
    _codes,
    st.sampled_from(["int8", "fp16"]),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**52),
    st.sampled_from(list(FrameFlags)),
    st.booleans(),
)
def test_round_trip_property(code: np.ndarray, quant: str, seq: int, t_us: int, flags: FrameFlags, gaze: bool) -> None:
    """Every valid frame decodes to itself, the code within the quantizer's bound."""
    frame = dataclasses.replace(sample_frame(with_gaze=gaze), code=code, sequence=seq, capture_time_us=t_us,
                                flags=flags)
    out = decode_latent_frame(encode_latent_frame(frame, LAYOUT_256, quant=quant), LAYOUT_256)
    assert (out.sequence, out.capture_time_us, out.flags) == (seq, t_us, flags)
    err = np.abs(out.code.astype(np.float64) - code.astype(np.float64))
    assert np.all(err <= get_quantizer(quant).error_bound(code, LAYOUT_256))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=16384), st.integers(0, 32767))
def test_control_chunk_round_trip(data: bytes, index: int) -> None:
    """Avatar chunks of any content up to the limit round-trip."""
    from codecav.net.wire.control import AvatarChunk

    msg = AvatarChunk("0" * 64, index, data)
    assert decode_control_message(encode_control_message(msg)) == msg
