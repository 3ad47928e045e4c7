"""Bulk work yields to a call's latency-critical threads.

A participant runs threads of two kinds. Latency-critical ones do little work each time but must run as soon as
they are woken: the network thread (aiortc's receive and send, the voice playout's packets), the capture and
encode worker, the voice output. Bulk ones use most of the CPU: the render loop (decoding, drawing) and, with a
software GL such as llvmpipe, the driver's own rasteriser threads; the demo's video recorder. When the CPU is
short (two participants on a 2-core machine each render on the CPU), a bulk thread holding a core delays every
wake-up of the others: `benchmarks/conversation.py` measured network and encode tails of 25-40 ms p95, which the
jitter buffer then had to cover with delay.

So codecav gives the bulk threads a nice value `BULK_NICE` above the others (Linux: nice is per thread, and
raising it needs no privilege). The render loop lowers itself just before it runs, after every latency-critical
thread has been started (a thread inherits its creator's nice), and returns to its priority after it where the
process may (`lowered_current_thread`); the GL driver's threads are lowered as the
render target creates them (`lowered_new_threads`); the recorder lowers its own worker further
(`RECORDING_NICE`). Nothing changes where the CPU is not short: nice only decides who runs first when threads
wait for a core. Where the platform has no per-thread nice (no /proc/self/task) this does nothing and says so in
the debug log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

BULK_NICE = 5
"""How much higher the bulk threads' nice value is (CFS weight 1024 at nice 0 against 335 at nice 5: a waking
latency-critical thread is preferred about 3:1)."""
RECORDING_NICE = 2 * BULK_NICE
"""The demo's video recorder sits below even the render loop: its video may repeat a frame, the viewer may not
wait for one."""
_TASKS = "/proc/self/task"


def thread_ids() -> set[int]:
    """The kernel ids of this process's threads (empty where /proc/self/task is missing)."""
    try:
        return {int(name) for name in os.listdir(_TASKS)}
    except OSError:
        return set()


def _lower(native_id: int, by: int) -> int | None:
    """Raise thread `native_id`'s nice value by `by` (at most to 19); its nice value before, or None, with a debug
    line, where the platform or the thread does not allow it (e.g. it has exited)."""
    if not hasattr(os, "setpriority"):
        log.debug("no per-thread nice on this platform: thread %d keeps its priority", native_id)
        return None
    try:
        before = os.getpriority(os.PRIO_PROCESS, native_id)
        os.setpriority(os.PRIO_PROCESS, native_id, min(19, before + by))
    except OSError as exc:
        log.debug("thread %d keeps its priority (%s)", native_id, exc)
        return None
    return before


def lower_thread(native_id: int, by: int = BULK_NICE) -> bool:
    """Raise thread `native_id`'s nice value by `by` (at most to 19); False, with a debug line, where the
    platform or the thread does not allow it (e.g. it has exited)."""
    return _lower(native_id, by) is not None


def lower_current_thread(by: int = BULK_NICE) -> bool:
    """Raise the calling thread's nice value by `by`; threads it creates from now on inherit it."""
    return lower_thread(threading.get_native_id(), by)


@contextlib.contextmanager
def lowered_current_thread(by: int = BULK_NICE) -> Iterator[bool]:
    """The calling thread at a nice value `by` higher inside the block (yields whether that took effect), and back
    where it was after it where the process may raise a priority again (root or RLIMIT_NICE; otherwise it stays
    lower, with a debug line: a command's render loop ends with its process anyway)."""
    native_id = threading.get_native_id()
    before = _lower(native_id, by)
    try:
        yield before is not None
    finally:
        if before is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, native_id, before)
            except OSError as exc:
                log.debug("thread %d stays at its lower priority (%s)", native_id, exc)


@contextlib.contextmanager
def lowered_new_threads(by: int = BULK_NICE) -> Iterator[set[int]]:
    """Threads this process creates inside the block (e.g. a GL driver's rasteriser threads while a context is
    made) get their nice raised by `by` as the block ends; yields the set of their ids, filled then."""
    before = thread_ids()
    created: set[int] = set()
    try:
        yield created
    finally:
        created.update(thread_ids() - before)
        for native_id in sorted(created):
            lower_thread(native_id, by)
