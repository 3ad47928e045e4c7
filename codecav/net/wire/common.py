"""Shared parsing discipline of the msgpack wire messages: strict unpacking and typed field readers."""

from __future__ import annotations

import math
from typing import Any

import msgpack

from codecav.net.errors import (
    InvalidFieldError,
    MalformedMessageError,
    MessageTooLargeError,
    MissingFieldError,
    TruncatedMessageError,
)

MAX_MAP_LEN = 32
"""Most keys a message map may hold (known keys plus room for future ones)."""
MAX_STR_LEN = 1024
"""Longest msgpack string in any message."""
MAX_ARRAY_LEN = 64
"""Longest msgpack array in any message."""


class _ExtTypeRejected(Exception):
    """Raised from the ext hook: ext types are never valid on the wire."""


def _reject_ext(code: int, data: bytes) -> Any:
    raise _ExtTypeRejected(code)


def unpack_map(data: bytes, what: str, max_bytes: int) -> dict[str, Any]:
    """Unpack one msgpack map from `data` under strict limits; `what` names the message in errors."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessageError(f"{what} must be binary msgpack, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise MessageTooLargeError(f"{what} is {len(data)} bytes; the limit is {max_bytes}")
    if len(data) == 0:
        raise TruncatedMessageError(f"{what} is empty")
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=True,
        use_list=True,
        max_buffer_size=max_bytes,
        max_bin_len=max_bytes,
        max_str_len=MAX_STR_LEN,
        max_array_len=MAX_ARRAY_LEN,
        max_map_len=MAX_MAP_LEN,
        max_ext_len=0,
        ext_hook=_reject_ext,
    )
    unpacker.feed(data)
    try:
        obj = unpacker.unpack()
    except msgpack.OutOfData:
        raise TruncatedMessageError(f"{what} is truncated: the msgpack data ends early") from None
    except _ExtTypeRejected:
        raise MalformedMessageError(f"{what} contains a msgpack ext type; none are allowed") from None
    except UnicodeDecodeError:
        raise MalformedMessageError(f"{what} contains a string that is not UTF-8") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError, OverflowError):
        # Format errors, limit violations, non-string map keys: msgpack's wording varies between versions.
        raise MalformedMessageError(f"{what} is not msgpack within the limits of the format") from None
    trailing = len(data) - unpacker.tell()
    if trailing:
        raise MalformedMessageError(f"{what} has {trailing} trailing bytes after the msgpack map")
    if not isinstance(obj, dict):
        raise MalformedMessageError(f"{what} must be a msgpack map, got {_type_name(obj)}")
    return obj


def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bin"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


class FieldReader:
    """Typed access to the fields of one unpacked message; every error names the message and field."""

    def __init__(self, fields: dict[str, Any], what: str) -> None:
        self.fields = fields
        self.what = what

    def _get(self, key: str, name: str) -> Any:
        if key not in self.fields:
            raise MissingFieldError(f"{self.what} is missing field {key!r} ({name})")
        return self.fields[key]

    def _bad(self, key: str, name: str, detail: str) -> InvalidFieldError:
        return InvalidFieldError(f"{self.what} field {key!r} ({name}) {detail}")

    def has(self, key: str) -> bool:
        """Whether `key` is present and not nil."""
        return self.fields.get(key) is not None

    def get_int(self, key: str, name: str, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        value = self._get(key, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, name, f"must be an int, got {_type_name(value)}")
        if not lo <= value <= hi:
            raise self._bad(key, name, f"is {value}; it must be in [{lo}, {hi}]")
        return value

    def get_float(self, key: str, name: str, lo: float, hi: float) -> float:
        """A finite float (or int) in [lo, hi]."""
        value = self._get(key, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, name, f"must be a number, got {_type_name(value)}")
        if not math.isfinite(value):
            raise self._bad(key, name, "must be finite")
        if not lo <= value <= hi:
            raise self._bad(key, name, f"is {value}; it must be in [{lo}, {hi}]")
        return float(value)

    def get_str(self, key: str, name: str, max_len: int, min_len: int = 0) -> str:
        """A string of min_len..max_len characters."""
        value = self._get(key, name)
        if not isinstance(value, str):
            raise self._bad(key, name, f"must be a str, got {_type_name(value)}")
        if not min_len <= len(value) <= max_len:
            allowed = f"exactly {max_len}" if min_len == max_len else f"{min_len} to {max_len}"
            raise self._bad(key, name, f"has {len(value)} characters; it must have {allowed}")
        return value

    def get_bin(self, key: str, name: str, max_len: int, exact: int | None = None) -> bytes:
        """A bin of at most max_len bytes (exactly `exact` if given)."""
        value = self._get(key, name)
        if not isinstance(value, bytes):
            raise self._bad(key, name, f"must be bin, got {_type_name(value)}")
        if exact is not None and len(value) != exact:
            raise self._bad(key, name, f"has {len(value)} bytes; it must have {exact}")
        if len(value) > max_len:
            raise self._bad(key, name, f"has {len(value)} bytes; the limit is {max_len}")
        return value

    def get_str_list(self, key: str, name: str, max_items: int, max_len: int) -> tuple[str, ...]:
        """An array of at most max_items strings of at most max_len characters."""
        value = self._get(key, name)
        if not isinstance(value, list):
            raise self._bad(key, name, f"must be an array, got {_type_name(value)}")
        if len(value) > max_items:
            raise self._bad(key, name, f"has {len(value)} items; the limit is {max_items}")
        for item in value:
            if not isinstance(item, str) or not 1 <= len(item) <= max_len:
                raise self._bad(key, name, f"must hold strings of 1 to {max_len} characters")
        return tuple(value)
