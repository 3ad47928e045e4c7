"""Golden wire v2 latent frames, byte for byte: valid ones re-encode exactly, invalid ones fail with exact messages.

Regenerate after an intentional format change with:
    CODECAV_REGEN_GOLDEN=1 .venv/bin/pytest tests/net/wire/test_golden_v2.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from codecav.net import errors
from codecav.net.wire.frames_v2 import LatentStreamDecoder
from tests.net.frames import LAYOUT_256
from tests.net.wire.v2_frames import TABLE_256, delta_message, key_message

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("CODECAV_REGEN_GOLDEN") == "1"


def _key() -> bytes:
    return key_message()[0]


def _delta_distance(distance: int) -> bytes:
    data = bytearray(delta_message(3))
    data[3] = (data[3] & 0xC0) | distance
    return bytes(data)


CASES: dict[str, Callable[[], bytes]] = {
    "latent_v2_key_gaze": _key,
    "latent_v2_key_no_gaze": lambda: key_message(with_gaze=False)[0],
    "latent_v2_delta": lambda: delta_message(3),
    "latent_v2_header_only": lambda: b"\x02",
    "latent_v2_truncated": lambda: _key()[:-6],
    "latent_v2_trailing_bytes": lambda: _key() + b"\x00",
    "latent_v2_bad_distance": lambda: _delta_distance(0),
    "latent_v2_no_reference": lambda: _delta_distance(5)[:2] + bytes([0xFF, 0xC5]) + _delta_distance(5)[4:],
    "latent_v2_long_code": lambda: b"\x02\x01\x01\x01" + b"\x00" * 8 + b"\x01",
}

VALID = {"latent_v2_key_gaze", "latent_v2_key_no_gaze", "latent_v2_delta"}

ERRORS: dict[str, tuple[type[errors.WireFormatError], str]] = {
    "latent_v2_header_only": (errors.TruncatedMessageError, "latent frame v2 is 1 bytes; the header alone is 2"),
    "latent_v2_truncated": (errors.TruncatedMessageError, "latent frame v2 is truncated in its head orientation"),
    "latent_v2_trailing_bytes": (errors.MalformedMessageError, "latent frame v2 has 1 trailing bytes"),
    "latent_v2_bad_distance": (errors.InvalidFieldError, "latent frame v2 key distance is 0; it must be in [1, 63]"),
    "latent_v2_no_reference": (errors.WireFormatError, "latent frame v2 is a delta of key frame tag 1023, which "
                               "this receiver does not hold (lost or late); waiting for the next key frame"),
    "latent_v2_long_code": (errors.InvalidFieldError,
                            "latent frame v2 code holds a code longer than the format allows"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_bytes(name: str) -> None:
    path = GOLDEN / f"{name}.bin"
    data = CASES[name]()
    if REGEN:
        path.write_bytes(data)
    assert path.read_bytes() == data, f"{path.name} changed; regenerate with CODECAV_REGEN_GOLDEN=1 if intended"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_decode(name: str) -> None:
    data = (GOLDEN / f"{name}.bin").read_bytes()
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    decoder.decode(_key())  # the key frame every delta case refers to
    if name in VALID:
        frame = decoder.decode(data)
        assert frame.sequence == (4245 if name == "latent_v2_delta" else 4242)
        return
    kind, message = ERRORS[name]
    with pytest.raises(kind) as info:
        decoder.decode(data)
    assert str(info.value) == message
    if name == "latent_v2_no_reference":
        assert info.value.reason == "no_reference"
