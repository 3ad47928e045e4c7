"""Control-channel messages: round trips, limits, exact errors, the non-raising receiver."""

from __future__ import annotations

import msgpack
import pytest

from codecav.net import errors
from codecav.net.receiver import ControlMessageReceiver
from codecav.net.wire.control import (
    AvatarChunk,
    AvatarDone,
    AvatarRequest,
    Bye,
    ControlMessage,
    Hello,
    Ping,
    Pong,
    decode_control_message,
    encode_control_message,
)

SHA = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "msg",
    [
        Hello("alice-1", "sample-ada", SHA, ("int8", "fp16", "gaze")),
        Hello("b", "a", SHA),
        Ping(0, 0),
        Pong(2**32 - 1, 1, 2, 2**52),
        AvatarRequest("sample.ada_2", SHA),
        AvatarChunk(SHA, 0, b""),
        AvatarDone(SHA, 123_456, 8),
        Bye(),
        Bye("hung up"),
    ],
)
def test_round_trip(msg: ControlMessage) -> None:
    """Every message type survives encode/decode unchanged."""
    assert decode_control_message(encode_control_message(msg)) == msg


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (Hello("", "a", SHA), "hello message field 'peer' (peer id) has 0 characters; it must have 1 to 64"),
        (Hello("a b", "a", SHA), "hello message field 'peer' (peer id) may only hold letters, digits, '.', '_', '-'"),
        (Hello("a", "a", SHA[:-1]),
         "hello message field 'sha' (avatar sha256) has 63 characters; it must have exactly 64"),
        (Hello("a", "a", SHA, ("x",) * 33), "hello message field 'caps' (capabilities) has 33 items; the limit is 32"),
        (Ping(-1, 0), "ping message field 'n' (sequence) is -1; it must be in [0, 4294967295]"),
        (Pong(1, 0, 2**53, 0), "pong message field 't1' (t1 timestamp) is 9007199254740992; it must be in "
         "[0, 4503599627370496]"),
        (AvatarChunk(SHA, 0, b"x" * 16385), "avchunk message field 'data' (chunk data) has 16385 bytes; the limit is "
         "16384"),
        (AvatarDone(SHA, -1, 0), "avdone message field 'size' (total bytes) is -1; it must be in [0, 536870912]"),
        (Bye("x" * 201), "bye message field 'why' (reason) has 201 characters; it must have 0 to 200"),
    ],
)
def test_encoder_refuses_out_of_range(msg: ControlMessage, message: str) -> None:
    """The encoder applies the decoder's rules and reports the decoder's message."""
    with pytest.raises(errors.WireEncodeError) as info:
        encode_control_message(msg)
    assert str(info.value) == message


def test_encoder_refuses_wrong_types() -> None:
    """A non-string id is caught at encode time."""
    with pytest.raises(errors.WireEncodeError, match="must be a str, got int"):
        encode_control_message(Hello(5, "a", SHA))  # type: ignore[arg-type]


def test_unknown_keys_ignored_and_version_checked() -> None:
    """Extra keys are ignored; another version is refused."""
    data = msgpack.packb({"v": 1, "m": "ping", "n": 3, "t0": 9, "future": [1, 2]})
    assert decode_control_message(data) == Ping(3, 9)
    with pytest.raises(errors.UnsupportedVersionError, match="^control message has version 2; this codecav reads 1$"):
        decode_control_message(msgpack.packb({"v": 2, "m": "ping", "n": 3, "t0": 9}))
    with pytest.raises(errors.MissingFieldError, match="^control message is missing field 'm' \\(message type\\)$"):
        decode_control_message(msgpack.packb({"v": 1}))


def test_receiver_counts() -> None:
    """ControlMessageReceiver drops by reason."""
    rx = ControlMessageReceiver()
    assert rx.receive(encode_control_message(Bye())) == Bye()
    assert rx.receive(msgpack.packb({"v": 1, "m": "nope"})) is None
    assert rx.receive(b"\x00" * 40000) is None
    assert rx.stats.dropped == {"unknown_type": 1, "too_large": 1}
