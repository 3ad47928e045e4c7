"""codecav.runtime.thread_priority on real Linux threads: nice is per thread, raised for the calling thread, for
threads created inside `lowered_new_threads`, and inherited by threads created afterwards."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from codecav.runtime.thread_priority import (
    BULK_NICE,
    lower_current_thread,
    lower_thread,
    lowered_current_thread,
    lowered_new_threads,
    thread_ids,
)

T = TypeVar("T")

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux per-thread nice")


def _nice(native_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, native_id)


def _in_thread(work: Callable[[], T]) -> T:
    """Run `work()` in a fresh thread (so this test process's own threads keep their nice) and return its result."""
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(10)
    return out[0]


def test_the_calling_thread_alone_is_lowered_and_its_new_threads_inherit() -> None:
    main = threading.main_thread().native_id or 0
    main_before = _nice(main)

    def work() -> tuple[int, int, int]:
        me = threading.get_native_id()
        before = _nice(me)
        assert lower_current_thread()
        child: list[int] = []
        t = threading.Thread(target=lambda: child.append(_nice(threading.get_native_id())))
        t.start()
        t.join(10)
        return before, _nice(me), child[0]

    before, after, child = _in_thread(work)
    assert before < 19  # else there is nothing to lower
    assert after == min(19, before + BULK_NICE)
    assert _nice(main) == main_before  # the process's other threads keep theirs
    assert child == after


def test_threads_created_inside_the_block_are_lowered_and_none_other() -> None:
    started = threading.Event()
    release = threading.Event()
    ids: list[int] = []

    def park() -> None:
        ids.append(threading.get_native_id())
        started.set()
        release.wait(10)

    me = threading.get_native_id()
    mine = _nice(me)
    with lowered_new_threads() as created:
        worker = threading.Thread(target=park)
        worker.start()
        started.wait(10)
    try:
        assert created == {ids[0]}
        assert _nice(ids[0]) == min(19, mine + BULK_NICE)
        assert _nice(me) == mine
    finally:
        release.set()
        worker.join(10)


def test_the_scoped_form_lowers_for_the_block_and_restores_where_allowed() -> None:
    def work() -> tuple[int, int, int, bool]:
        me = threading.get_native_id()
        before = _nice(me)
        with lowered_current_thread() as lowered:
            inside = _nice(me)
        return before, inside, _nice(me), lowered

    before, inside, after, lowered = _in_thread(work)
    assert lowered and inside == min(19, before + BULK_NICE)
    if os.geteuid() == 0:  # root may raise a priority again (others keep the lower one, as documented)
        assert after == before
    else:
        assert after in (before, inside)


def test_a_thread_that_is_gone_is_reported_not_raised() -> None:
    gone: list[int] = []
    t = threading.Thread(target=lambda: gone.append(threading.get_native_id()))
    t.start()
    t.join(10)
    # join() returns once Python is done with the thread; the kernel task leaves /proc/self/task a moment later
    deadline = time.monotonic() + 10
    while gone[0] in thread_ids() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert gone[0] not in thread_ids()
    assert lower_thread(gone[0]) is False
