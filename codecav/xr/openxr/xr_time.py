"""XrTime <-> CLOCK_MONOTONIC nanoseconds through XR_KHR_convert_timespec_time.

This is where OpenXR's external timestamps meet codecav's clock: `codecav.clock.MONOTONIC` reads the same
CLOCK_MONOTONIC, and `XrTimeConverter.now` reads it directly (the one allowed exception in xr/).

pyopenxr's Linux wrapper for this extension is broken (it reads `instance.instance`), so the two
functions are fetched with xrGetInstanceProcAddr and called through ctypes.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

EXTENSION = "XR_KHR_convert_timespec_time"
"""The instance extension this module needs."""


class Timespec(ctypes.Structure):
    """struct timespec on 64-bit Linux."""

    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


_TO_TIME = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Timespec), ctypes.POINTER(ctypes.c_int64))
_TO_TIMESPEC = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(Timespec))


class XrTimeConverter:
    """Converts between the runtime's XrTime and CLOCK_MONOTONIC nanoseconds for one instance."""

    def __init__(self, instance: Any) -> None:
        """`instance`: an xr.Instance created with XR_KHR_convert_timespec_time enabled."""
        import xr

        self._xr = xr
        self._instance = ctypes.cast(instance, ctypes.c_void_p)
        self._to_time = _TO_TIME(self._address(instance, "xrConvertTimespecTimeToTimeKHR"))
        self._to_timespec = _TO_TIMESPEC(self._address(instance, "xrConvertTimeToTimespecTimeKHR"))

    def _address(self, instance: Any, name: str) -> int:
        address = ctypes.cast(self._xr.get_instance_proc_addr(instance, name), ctypes.c_void_p).value
        if not address:
            raise RuntimeError(f"the OpenXR runtime returned no {name}")
        return address

    def _check(self, result: int) -> None:
        checked = self._xr.check_result(self._xr.Result(result))
        if checked.is_exception():
            raise checked

    def to_monotonic_ns(self, xr_time: int) -> int:
        """CLOCK_MONOTONIC nanoseconds of an XrTime."""
        spec = Timespec()
        self._check(self._to_timespec(self._instance, int(xr_time), ctypes.byref(spec)))
        return int(spec.tv_sec) * 1_000_000_000 + int(spec.tv_nsec)

    def from_monotonic_ns(self, monotonic_ns: int) -> int:
        """XrTime of a CLOCK_MONOTONIC time in nanoseconds."""
        spec = Timespec(monotonic_ns // 1_000_000_000, monotonic_ns % 1_000_000_000)
        out = ctypes.c_int64()
        self._check(self._to_time(self._instance, ctypes.byref(spec), ctypes.byref(out)))
        return int(out.value)

    def now(self) -> int:
        """The current XrTime. It reads the OS CLOCK_MONOTONIC itself, not an injected Clock: the runtime
        converts against that real clock, so a fake time would be meaningless (the external-timestamp case of
        codecav.clock's rule)."""
        return self.from_monotonic_ns(time.monotonic_ns())  # external timestamp: XrTime's own time base
