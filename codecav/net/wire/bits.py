"""Bit-level primitives of wire format v2: LEB128 varints, zigzag, and a bit stream of Exp-Golomb codes.

Pure and bounded: every reader checks the bytes left and the code lengths before it trusts them, and raises
the WireFormatError subclasses the receivers count (truncated, invalid_field, malformed).
"""

from __future__ import annotations

from codecav.net.errors import InvalidFieldError, MalformedMessageError, TruncatedMessageError

MAX_VARINT_BYTES = 9
"""Longest LEB128 varint accepted (63 bits of value)."""
MAX_GOLOMB_PREFIX = 48
"""Longest run of leading zeros an Exp-Golomb code may have (values below 2^48 * 2^k)."""
MAX_GOLOMB_K = 7
"""Largest Exp-Golomb order (3 bits on the wire)."""


def zigzag(value: int) -> int:
    """Signed -> unsigned: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ..."""
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    """Inverse of zigzag."""
    return value >> 1 if value % 2 == 0 else -((value + 1) >> 1)


def write_varint(out: bytearray, value: int) -> None:
    """Append `value` (0 .. 2^63-1) as LEB128."""
    if not 0 <= value < 2**63:
        raise ValueError(f"varint {value} out of range")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def read_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """(value, next position) of the LEB128 varint at `pos`; `what` names the field in errors."""
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise TruncatedMessageError(f"latent frame v2 is truncated in its {what}")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and byte == 0:
                raise MalformedMessageError(f"latent frame v2 {what} is not a minimal varint")
            return value, pos + i + 1
    raise InvalidFieldError(f"latent frame v2 {what} is a varint longer than {MAX_VARINT_BYTES} bytes")


def golomb_bits(value: int, k: int) -> int:
    """Length in bits of the Exp-Golomb code of order k of `value` >= 0."""
    return 2 * ((value >> k) + 1).bit_length() - 1 + k


def best_golomb_k(values: list[int]) -> int:
    """The order 0..MAX_GOLOMB_K that codes the unsigned `values` in the fewest bits (ties: the smallest)."""
    return min(range(MAX_GOLOMB_K + 1), key=lambda k: (sum(golomb_bits(v, k) for v in values), k))


class BitWriter:
    """Appends bits most-significant first; `bytes()` pads the last byte with zero bits."""

    def __init__(self) -> None:
        self._acc = 0
        self.bits = 0
        """Bits written so far."""

    def write(self, value: int, count: int) -> None:
        """The low `count` bits of `value`."""
        self._acc = (self._acc << count) | (value & ((1 << count) - 1))
        self.bits += count

    def golomb(self, value: int, k: int) -> None:
        """Exp-Golomb code of order k of `value` >= 0: (value >> k) + 1 in Elias-gamma, then the low k bits."""
        high = (value >> k) + 1
        length = high.bit_length()
        self.write(high, 2 * length - 1)  # length - 1 zeros, then `high` itself
        self.write(value, k)

    def signed_run(self, values: list[int]) -> None:
        """A 3-bit order k then each signed value zigzagged in Exp-Golomb-k (k chosen to fit them best)."""
        unsigned = [zigzag(v) for v in values]
        k = best_golomb_k(unsigned)
        self.write(k, 3)
        for v in unsigned:
            self.golomb(v, k)

    def to_bytes(self) -> bytes:
        """The bits, zero-padded to whole bytes."""
        pad = -self.bits % 8
        return (self._acc << pad).to_bytes((self.bits + pad) // 8, "big") if self.bits else b""


class BitReader:
    """Reads what BitWriter wrote; every overrun is TruncatedMessageError, every oversized code InvalidFieldError."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._total = 8 * len(data)
        self.pos = 0
        """Bits read so far."""

    def read(self, count: int, what: str) -> int:
        """The next `count` bits as an unsigned int."""
        if self.pos + count > self._total:
            raise TruncatedMessageError(f"latent frame v2 is truncated in its {what}")
        self.pos += count
        return (self._value >> (self._total - self.pos)) & ((1 << count) - 1)

    def golomb(self, k: int, what: str) -> int:
        """One Exp-Golomb-k value."""
        zeros = 0
        while self.read(1, what) == 0:
            zeros += 1
            if zeros > MAX_GOLOMB_PREFIX:
                raise InvalidFieldError(f"latent frame v2 {what} holds a code longer than the format allows")
        high = (1 << zeros) | self.read(zeros, what)
        return ((high - 1) << k) | self.read(k, what)

    def signed_run(self, count: int, what: str) -> list[int]:
        """`count` signed values written by BitWriter.signed_run."""
        k = self.read(3, what)
        return [unzigzag(self.golomb(k, what)) for _ in range(count)]

    def finish(self) -> None:
        """MalformedMessageError unless only zero padding (under one byte) is left."""
        left = self._total - self.pos
        if left >= 8:
            raise MalformedMessageError(f"latent frame v2 has {left // 8} trailing bytes")
        if left and self.read(left, "padding"):
            raise MalformedMessageError("latent frame v2 has non-zero padding bits")
