"""Hypothesis fuzzing of the v2 decoder: only WireFormatError ever escapes; random frames round-trip."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codecav.latent import FrameFlags, Gaze, HeadPose, LatentFrame
from codecav.net.errors import WireFormatError
from codecav.net.wire.frames_v2 import LatentStreamDecoder, LatentStreamEncoder
from tests.net.frames import LAYOUT_256
from tests.net.wire.v2_frames import TABLE_256, delta_message, key_message

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = [key_message()[0], key_message(with_gaze=False)[0], delta_message(3)]


def _decode(data: bytes) -> None:
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    decoder.decode(VALID[0])
    try:
        decoder.decode(data)
    except WireFormatError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    """Random bytes after a v2 version byte raise nothing but WireFormatError."""
    _decode(b"\x02" + data)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_frames(valid: bytes, data: st.DataObject) -> None:
    """Flipped bytes, truncations and extensions of valid frames raise nothing but WireFormatError."""
    raw = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw) + 3))
    _decode(bytes(raw[:cut]) + bytes(max(0, cut - len(raw))))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n if n > 1e-3 else np.array([0, 0, 1.0])).astype(np.float32)


@FUZZ
@given(st.lists(st.floats(-3, 3), min_size=256, max_size=256), st.lists(st.floats(-1, 1), min_size=4, max_size=4),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3), st.integers(1, 63), st.booleans())
def test_random_frames_round_trip(code: list[float], quat: list[float], position: list[float], later: int,
                                  gaze: bool) -> None:
    """Random codes and poses: the key and a delta decode within half a step per code entry."""
    q = _unit(np.array(quat, np.float64) + np.array([0, 0, 0, 0.01]))
    frames = [LatentFrame(s, 1_000_000 + 33_333 * s, (np.array(code, np.float32) * (1 + 0.01 * s)).astype(np.float32),
                          HeadPose(np.array(position, np.float32), q),
                          Gaze(_unit(np.array([0.1, 0.0, 1.0])), _unit(np.array([-0.1, 0.2, 1.0]))) if gaze else None,
                          FrameFlags(0)) for s in (0, later)]
    encoder = LatentStreamEncoder(LAYOUT_256, TABLE_256, key_interval_us=10**9)
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    for frame in frames:
        got = decoder.decode(encoder.encode(frame))
        assert got.sequence == frame.sequence
        assert np.all(np.abs(got.code - frame.code) <= TABLE_256.step / 2 + 1e-5)
        assert abs(abs(float(np.dot(got.head_pose.orientation, frame.head_pose.orientation))) - 1) < 1e-5
