"""Fuzz every parser of bytes a stranger can send, at volume: latent frames (wire v1 and v2), control messages,
signaling JSON.

    .venv/bin/python benchmarks/fuzz_wire.py --json [--inputs N] [--seed S]

The unit tests (tests/net/wire/test_fuzz.py, test_fuzz_v2.py, hypothesis) run a few hundred inputs per property;
this runs N (default 100,000) seeded inputs, in equal shares of seven kinds: random bytes; valid v1 latent and
control messages with bytes overwritten, inserted or cut; valid messages with one msgpack field replaced by a
random value (nested up to 40 deep); random and mutated signaling JSON (client and server messages, nesting up to
2,000 deep); random bit streams after the v2 version byte; valid v2 key and delta frames with bytes and bits
changed, cut or extended. Each input goes through the decoders of its family (v2 frames through a stream decoder
that holds a key frame, so deltas are read too); the only acceptable outcomes are a decoded message or the
family's one-line error (WireFormatError, ProtocolError). Prints exactly `inputs` (how many ran),
`escapes` (anything else raised, or a multi-line error; each is echoed to stderr with the input's kind and
seed) and `inputs_per_s`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.net.errors import WireFormatError  # noqa: E402
from codecav.net.signaling.messages import (  # noqa: E402
    Join,
    Offer,
    ProtocolError,
    client_message_json,
    parse_client_message,
    parse_server_message,
)
from codecav.net.wire.control import AvatarChunk, Ping, decode_control_message, encode_control_message  # noqa: E402
from codecav.net.wire.frames import decode_latent_frame, encode_latent_frame  # noqa: E402
from codecav.net.wire.frames_v2 import LatentStreamDecoder  # noqa: E402
from tests.net.frames import LAYOUT_256, sample_frame  # noqa: E402
from tests.net.wire.v2_frames import TABLE_256, delta_message, key_message  # noqa: E402

VALID_WIRE = [
    encode_latent_frame(sample_frame(), LAYOUT_256),
    encode_latent_frame(sample_frame(with_gaze=False), LAYOUT_256, quant="fp16"),
    encode_control_message(Ping(7, 123_456)),
    encode_control_message(AvatarChunk("0" * 64, 3, b"x" * 300)),
]
KEY_V2 = key_message()[0]
VALID_V2 = [KEY_V2, key_message(with_gaze=False)[0], delta_message(3), delta_message(40)]
VALID_JSON = [client_message_json(Join("room", "alice", "token")),
              client_message_json(Offer("bob", "v=0\r\n" * 20))]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(3)
        if choice == 0 and b:
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif choice == 1 and b:
            del b[rng.randrange(len(b)):]
        else:
            at = rng.randrange(len(b) + 1)
            b[at:at] = rng.randbytes(rng.randint(1, 40))
    return bytes(b)


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 40 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**63), 2**64 - 1)
    if kind == 3:
        return rng.choice([float("nan"), float("inf"), -0.0, rng.uniform(-1e300, 1e300)])
    if kind == 4:
        return "".join(chr(rng.randrange(0x20, 0x2FF)) for _ in range(rng.randint(0, 30)))
    if kind == 5:
        return rng.randbytes(rng.randint(0, 400))
    if kind == 6:
        return rng.randint(0, 300)
    if kind == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {str(rng.randint(0, 9)): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _one_line(parse: Callable[[Any], object], data: Any, family: type[Exception]) -> None:
    """`parse(data)` decodes, or refuses with the family's error in one line; anything else escapes."""
    try:
        parse(data)
    except family as exc:
        if "\n" in str(exc):
            raise AssertionError(f"multi-line error: {exc!r}") from None


def _wire(data: bytes) -> None:
    for decode in (lambda d: decode_latent_frame(d, LAYOUT_256), decode_control_message):
        _one_line(decode, data, WireFormatError)


def _wire_v2(data: bytes) -> None:
    decoder = LatentStreamDecoder(LAYOUT_256, TABLE_256)
    decoder.decode(KEY_V2)  # a held key frame, so deltas are read to the end
    _one_line(decoder.decode, data, WireFormatError)


def _signaling(text: str) -> None:
    for parse in (parse_client_message, parse_server_message):
        _one_line(parse, text, ProtocolError)


def random_bytes(rng: random.Random) -> None:
    """Random bytes of random length."""
    _wire(rng.randbytes(rng.randint(0, 2048)))


def mutated_wire(rng: random.Random) -> None:
    """A valid message with bytes overwritten, cut or inserted."""
    _wire(_mutate(rng.choice(VALID_WIRE), rng))


def field_replaced(rng: random.Random) -> None:
    """A valid message with one field (or a new one) replaced by a random msgpack value."""
    fields = msgpack.unpackb(rng.choice(VALID_WIRE))
    fields[rng.choice([*fields, "x", "zz"])] = _value(rng, 0)
    try:
        data = msgpack.packb(fields, use_bin_type=True)
    except (OverflowError, ValueError):
        data = rng.randbytes(8)
    _wire(data)


def signaling_json(rng: random.Random) -> None:
    """Random, mutated or deeply nested signaling text."""
    choice = rng.randrange(3)
    if choice == 0:
        text = _mutate(rng.choice(VALID_JSON).encode(), rng).decode("utf-8", "replace")
    elif choice == 1:
        depth = rng.randint(1, 2000)
        text = "[" * depth + "]" * (depth if rng.random() < 0.5 else 0)
    else:
        text = json.dumps({"type": rng.choice(["join", "offer", "answer", "candidate", "leave", "x"]),
                           **{str(rng.randint(0, 5)): _value(rng, 0) for _ in range(3)}}, default=str)
    _signaling(text)


def signaling_fields(rng: random.Random) -> None:
    """A valid signaling message with one field replaced by a random JSON value."""
    obj = json.loads(rng.choice(VALID_JSON))
    obj[rng.choice([*obj, "x"])] = _value(rng, 0)
    _signaling(json.dumps(obj, default=lambda v: v.hex() if isinstance(v, bytes) else str(v)))


def random_v2(rng: random.Random) -> None:
    """The v2 version byte and random bits of random length."""
    _wire_v2(b"\x02" + rng.randbytes(rng.randint(0, 600)))


def mutated_v2(rng: random.Random) -> None:
    """A valid v2 key or delta frame with bytes overwritten, cut or inserted, or single bits flipped."""
    data = bytearray(rng.choice(VALID_V2))
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 4)):
            bit = rng.randrange(8 * len(data))
            data[bit // 8] ^= 1 << (bit % 8)
        _wire_v2(bytes(data))
    else:
        _wire_v2(_mutate(bytes(data), rng))


KINDS: list[Callable[[random.Random], None]] = [random_bytes, mutated_wire, field_replaced, signaling_json,
                                                signaling_fields, random_v2, mutated_v2]


def fuzz(inputs: int, seed: int) -> dict[str, Any]:
    """Run `inputs` inputs; the figures."""
    escapes = 0
    began = time.perf_counter()
    for i in range(inputs):
        kind = KINDS[i % len(KINDS)]
        case_seed = seed * 1_000_003 + i
        try:
            kind(random.Random(case_seed))
        except Exception as exc:  # everything else is an escape: counted and shown
            escapes += 1
            print(f"escape: {kind.__name__} seed {case_seed}: {type(exc).__name__}: {exc}"[:500], file=sys.stderr)
    elapsed = time.perf_counter() - began
    return {"inputs": inputs, "escapes": escapes, "inputs_per_s": round(inputs / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = fuzz(args.inputs, args.seed)
    print(json.dumps(result, indent=2) if args.json else result)


if __name__ == "__main__":
    main()
