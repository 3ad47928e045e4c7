"""onnxruntime session options for package models and drivers, with onnxruntime's own logging off: its
messages (ANSI-coloured, several lines per failure) never reach the terminal; every failure still surfaces
as the exception onnxruntime raises, which codecav turns into its one-line error."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort

ORT_SILENT = 4
"""onnxruntime log severity FATAL: only a crash message could still be printed."""

_quiet_lock = threading.Lock()
_quiet_done = False


def quiet_onnxruntime() -> None:
    """Set onnxruntime's default logger (the one used before and outside sessions) to FATAL, once per process."""
    global _quiet_done
    with _quiet_lock:
        if _quiet_done:
            return
        import onnxruntime as ort

        ort.set_default_logger_severity(ORT_SILENT)
        _quiet_done = True


def session_options(intra_threads: int = 1, inter_threads: int = 1) -> ort.SessionOptions:
    """CPU session options with these thread counts (each >= 1) and logging off."""
    if intra_threads < 1 or inter_threads < 1:
        raise ValueError(f"threads must be >= 1, got {intra_threads} intra-op and {inter_threads} inter-op")
    import onnxruntime as ort

    quiet_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_threads
    options.inter_op_num_threads = inter_threads
    options.log_severity_level = ORT_SILENT
    options.log_verbosity_level = 0
    return options
