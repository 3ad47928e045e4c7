"""JSON from untrusted bytes under a size and a nesting-depth bound, checked before the parser recurses:
a deeply nested document is refused with a one-line JsonBoundsError instead of a RecursionError traceback.
Used by the avatar manifest; signaling messages can use it the same way."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

DEFAULT_MAX_BYTES = 1024 * 1024
"""Largest document loads_bounded accepts unless told otherwise."""
DEFAULT_MAX_DEPTH = 32
"""Deepest nesting of arrays and objects loads_bounded accepts unless told otherwise."""

_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"?|([\[\]{}])', re.S)
"""A string literal (to the end of the text when unterminated, so the scan stays linear) or a bracket,
captured; brackets inside strings do not nest."""


class JsonBoundsError(ValueError):
    """Untrusted JSON was refused; the message is one line, `reason` a stable key for counters."""

    def __init__(self, message: str, reason: str) -> None:
        """`reason` is 'json_too_large', 'json_too_deep' or 'json_invalid'."""
        super().__init__(message)
        self.reason = reason
        """Stable key of the refusal."""


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in `text`, found without recursion (string contents ignored)."""
    steps = [1 if c in "[{" else -1 for c in _TOKEN_RE.findall(text) if c]
    return max(accumulate(steps), default=0)


def loads_bounded(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH,
                  object_pairs_hook: Any = None) -> Any:
    """Parse UTF-8 JSON of at most `max_bytes` bytes and `max_depth` levels; NaN/Infinity refused;
    JsonBoundsError (a ValueError) otherwise. `object_pairs_hook` is passed to json.loads (e.g. to refuse
    duplicate keys, which it may do by raising ValueError)."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > max_bytes:
        raise JsonBoundsError(f"is {size} bytes, over the limit of {max_bytes}", "json_too_large")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonBoundsError(f"is not UTF-8 ({exc.reason} at byte {exc.start})", "json_invalid") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise JsonBoundsError(f"nests {depth} levels deep, over the limit of {max_depth}", "json_too_deep")
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so are the hooks' refusals
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise JsonBoundsError(f"is not valid JSON ({message})", "json_invalid") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")
