"""Wire v2 latent frames: round trips within the stated error bounds, key/delta references, loss, limits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codecav.latent import FrameFlags
from codecav.net import errors
from codecav.net.receiver import LatentFrameReceiver
from codecav.net.wire.bits import BitReader, BitWriter, golomb_bits, read_varint, unzigzag, write_varint, zigzag
from codecav.net.wire.frames import encode_latent_frame
from codecav.net.wire.frames_v2 import (
    CAPABILITY_V2,
    GAZE_STEP_RAD,
    POSITION_STEP_M,
    EncodedFrame,
    LatentFrameSender,
    LatentStreamDecoder,
    LatentStreamEncoder,
    MissingReferenceError,
    decode_latent_frame_v2,
)
from tests.net.frames import LAYOUT_256, sample_frame
from tests.net.wire.v2_frames import TABLE_256, delta_message, key_message, moved_frame


def test_bits_round_trip() -> None:
    values = [0, 1, -1, 5, -300, 2**30, -(2**33)]
    for k in range(8):
        writer = BitWriter()
        writer.write(k, 3)
        for v in values:
            writer.golomb(zigzag(v), k)
        assert writer.bits == 3 + sum(golomb_bits(zigzag(v), k) for v in values)
        reader = BitReader(writer.to_bytes())
        assert reader.read(3, "k") == k
        assert [unzigzag(reader.golomb(k, "x")) for _ in values] == values
        reader.finish()
    out = bytearray()
    write_varint(out, 2**52)
    assert read_varint(bytes(out), 0, "t") == (2**52, len(out))


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return bool(np.max(np.abs(a.astype(np.float64) - b)) <= tol)


@pytest.mark.parametrize("with_gaze", [True, False])
def test_key_and_delta_round_trip(with_gaze: bool) -> None:
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    key = decoder.decode(key_message(with_gaze)[0])
    frame = decoder.decode(delta_message(3, with_gaze))
    expected = moved_frame(3, with_gaze)
    for got, want in ((key, sample_frame(with_gaze=with_gaze)), (frame, expected)):
        assert got.sequence == want.sequence and got.capture_time_us == want.capture_time_us
        assert got.flags == want.flags
        assert np.all(np.abs(got.code - want.code) <= TABLE_256.step / 2 + 1e-6)
        assert _close(got.head_pose.position, want.head_pose.position, POSITION_STEP_M / 2 + 1e-6)
        dot = abs(float(np.dot(got.head_pose.orientation.astype(np.float64), want.head_pose.orientation)))
        assert np.degrees(2 * np.arccos(min(dot, 1.0))) < 0.05
        assert (got.gaze is None) == (want.gaze is None)
        if got.gaze is not None and want.gaze is not None:
            for a, b in ((got.gaze.left, want.gaze.left), (got.gaze.right, want.gaze.right)):
                assert np.arccos(min(1.0, float(np.dot(a, b)))) <= GAZE_STEP_RAD
    assert len(delta_message(3)) < len(key_message()[0]) < len(encode_latent_frame(sample_frame(), LAYOUT_256))


def test_delta_without_its_key_is_dropped_until_the_next_key() -> None:
    receiver = LatentFrameReceiver(LAYOUT_256, TABLE_256)
    assert receiver.receive(delta_message(3)) is None
    assert receiver.stats.dropped == {"no_reference": 1}
    assert receiver.receive(key_message()[0]) is not None
    assert receiver.receive(delta_message(3)) is not None
    assert receiver.receive(encode_latent_frame(sample_frame(), LAYOUT_256)) is not None  # v1 still read


def test_v2_needs_the_senders_table() -> None:
    with pytest.raises(errors.LayoutMismatchError, match="has no quant table"):
        decode_latent_frame_v2(key_message()[0], LAYOUT_256, None, {})


def test_stream_key_interval_and_loss_costs_at_most_one_interval() -> None:
    encoder = LatentStreamEncoder(LAYOUT_256, TABLE_256, key_interval_us=300_000)
    messages = [encoder.encode(moved_frame(i)) for i in range(40)]
    keys = [i for i, m in enumerate(messages) if m[1] & 1]
    assert keys == [0, 10, 20, 30]  # 10 frames of 33,333 us reach 300 ms
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    decoded = []
    for i, m in enumerate(messages):
        if i == 10:
            continue  # a lost key frame
        try:
            decoded.append(decoder.decode(m).sequence - 4242)
        except MissingReferenceError:
            pass
    assert decoded == list(range(10)) + list(range(20, 40))


def test_reordered_keys_are_kept() -> None:
    encoder = LatentStreamEncoder(LAYOUT_256, TABLE_256, key_interval_us=100_000)
    messages = [encoder.encode(moved_frame(i)) for i in range(12)]
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    for m in reversed(messages):  # every delta before its key: dropped; keys kept
        try:
            decoder.decode(m)
        except MissingReferenceError:
            pass
    assert sorted(k.sequence - 4242 for k in decoder.keys.values()) == [0, 4, 8]
    assert decoder.decode(messages[5]).sequence == 4247


def test_sender_picks_version_by_caps() -> None:
    sender = LatentFrameSender(LAYOUT_256, TABLE_256)
    encoded = sender.encode(sample_frame())
    assert isinstance(encoded, EncodedFrame) and encoded.v2 is not None
    assert encoded.for_caps(("int8", CAPABILITY_V2)) == encoded.v2
    assert encoded.for_caps(("int8",)) == encoded.v1 and encoded.for_caps(None) == encoded.v1
    assert encoded.for_all([(CAPABILITY_V2,), ("int8",)]) == encoded.v1
    assert encoded.for_all([(CAPABILITY_V2,)]) == encoded.v2
    assert LatentFrameSender(LAYOUT_256, TABLE_256, quant="fp16").encode(sample_frame()).v2 is None
    assert LatentFrameSender(LAYOUT_256, None).encode(sample_frame()).v2 is None


def test_encode_refuses_out_of_range() -> None:
    bad = dataclasses.replace(sample_frame(), code=np.full(256, 1e6, np.float32))
    with pytest.raises(errors.WireEncodeError, match="beyond"):
        LatentStreamEncoder(LAYOUT_256, TABLE_256).encode(bad)
    lost = dataclasses.replace(sample_frame(), flags=FrameFlags.TRACKING_LOST)
    frame = LatentStreamDecoder(LAYOUT_256, TABLE_256).decode(LatentStreamEncoder(LAYOUT_256, TABLE_256).encode(lost))
    assert frame.flags == FrameFlags.TRACKING_LOST and frame.gaze is not None
