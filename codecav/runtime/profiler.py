"""Stage profiler: timed spans tagged with frame ids, Chrome-trace JSON for Perfetto, percentile summaries.

Off by default and free when off: `span()` then returns one shared no-op context manager.
Switch it on with ProfilerOptions(enabled=True) or the environment variable CODECAV_PROFILE=1.
"""

from __future__ import annotations

import json
import os
import threading
from array import array
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.clock import MONOTONIC, Clock

STAGES = ("capture", "encode", "send", "receive", "hold", "jitter_buffer", "decode", "render", "present")
"""The pipeline stages every frame passes through, in order (`jitter_buffer`: the render loop taking each
remote's sample from its feed; `hold`: how long the frame waited there for its display time)."""

OVERLAPPING_STAGES = ("hold",)
"""Stages whose spans of consecutive frames overlap (several frames wait in a jitter buffer at once): the trace
writes them as async slices, which Perfetto stacks, instead of complete events that must nest."""

_NULL_SPAN: AbstractContextManager[None] = nullcontext()


@dataclass(frozen=True)
class ProfilerOptions:
    """Profiler switches; `from_env` lets CODECAV_PROFILE / CODECAV_PROFILE_MAX_SPANS override them."""

    enabled: bool = False
    """Record spans at all."""
    max_spans: int = 200_000
    """Stop recording past this many spans (memory bound: ~36 B each in `SpanStore`); `dropped` counts the rest."""

    @staticmethod
    def from_env(default: ProfilerOptions | None = None) -> ProfilerOptions:
        """Options from the environment, falling back to `default` (or the defaults)."""
        base = default or ProfilerOptions()
        enabled = os.environ.get("CODECAV_PROFILE")
        max_spans = os.environ.get("CODECAV_PROFILE_MAX_SPANS")
        return ProfilerOptions(
            enabled=base.enabled if enabled is None else enabled.strip().lower() in ("1", "true", "yes", "on"),
            max_spans=base.max_spans if max_spans is None else int(max_spans),
        )


@dataclass(frozen=True)
class Span:
    """One timed piece of work."""

    name: str
    """Stage or sub-step name."""
    start_ns: int
    """Start on the profiler's clock."""
    end_ns: int
    """End on the profiler's clock."""
    thread: str
    """Name of the thread it ran on (a track in the trace)."""
    frame: int | None
    """Frame id (the LatentFrame sequence) the work belonged to, if any."""
    peer: str
    """Whose pipeline: 'local' or a remote peer id."""


@dataclass(frozen=True)
class StageSummary:
    """Percentiles of one stage's durations, milliseconds."""

    count: int
    """Number of spans."""
    p50_ms: float
    """Median."""
    p95_ms: float
    """95th percentile."""
    p99_ms: float
    """99th percentile."""


class SpanStore:
    """Spans kept in columns (two int64 times, an int64 frame, three int32 indexes into interned names): about
    36 bytes a span, against ~200 for a Span object, so a long call's trace does not grow the process by tens of
    MB. Not thread-safe by itself (the Profiler holds its lock around it)."""

    NO_FRAME = -(2**63)
    """The frame column's value for a span without a frame."""

    def __init__(self) -> None:
        self._start = array("q")
        self._end = array("q")
        self._frame = array("q")
        self._name = array("i")
        self._thread = array("i")
        self._peer = array("i")
        self._texts: list[str] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._start)

    def _intern(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self._texts)
            self._texts.append(text)
        return found

    def append(self, name: str, start_ns: int, end_ns: int, thread: str, frame: int | None, peer: str) -> None:
        """Record one span."""
        self._start.append(start_ns)
        self._end.append(end_ns)
        self._frame.append(self.NO_FRAME if frame is None else frame)
        self._name.append(self._intern(name))
        self._thread.append(self._intern(thread))
        self._peer.append(self._intern(peer))

    def nbytes(self) -> int:
        """Bytes the columns' elements take (not counting the interned names)."""
        columns = (self._start, self._end, self._frame, self._name, self._thread, self._peer)
        return sum(c.buffer_info()[1] * c.itemsize for c in columns)

    def spans(self) -> list[Span]:
        """Every span, as Span objects, in the order recorded."""
        texts = self._texts
        columns = (self._start, self._end, self._frame, self._name, self._thread, self._peer)
        return [Span(texts[n], s, e, texts[t], None if f == self.NO_FRAME else f, texts[p])
                for s, e, f, n, t, p in zip(*columns, strict=True)]


class Profiler:
    """Collects spans from any thread; thread-safe, bounded."""

    def __init__(self, options: ProfilerOptions | None = None, *, clock: Clock = MONOTONIC) -> None:
        """`clock` times the spans (injectable: FakeClock in tests; its nanoseconds are CLOCK_MONOTONIC's, the
        time base OpenXR's XrTime converts to)."""
        self.options = options or ProfilerOptions.from_env()
        self.clock = clock
        """The time source spans are measured on."""
        self._lock = threading.Lock()
        self._spans = SpanStore()
        self.dropped = 0
        """Spans not recorded because max_spans was reached."""

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded."""
        return self.options.enabled

    def span(self, name: str, frame: int | None = None, peer: str = "local") -> AbstractContextManager[None]:
        """Time the `with` block as a span; a shared no-op when the profiler is off."""
        if not self.options.enabled:
            return _NULL_SPAN
        return self._timed(name, frame, peer)

    @contextmanager
    def _timed(self, name: str, frame: int | None, peer: str) -> Iterator[None]:
        start = self.clock.now_ns()
        try:
            yield
        finally:
            self.add(name, start, self.clock.now_ns(), frame=frame, peer=peer)

    def add(self, name: str, start_ns: int, end_ns: int, frame: int | None = None, peer: str = "local",
            thread: str | None = None) -> None:
        """Record a span measured elsewhere (e.g. a remote stage mapped through clock sync)."""
        if not self.options.enabled:
            return
        thread_name = thread or threading.current_thread().name
        with self._lock:
            if len(self._spans) >= self.options.max_spans:
                self.dropped += 1
            else:
                self._spans.append(name, start_ns, end_ns, thread_name, frame, peer)

    def spans(self) -> list[Span]:
        """A copy of the recorded spans."""
        with self._lock:
            return self._spans.spans()

    def summary(self) -> dict[str, StageSummary]:
        """Per span name: count and p50/p95/p99 durations in ms."""
        by_name: dict[str, list[float]] = {}
        for span in self.spans():
            by_name.setdefault(span.name, []).append((span.end_ns - span.start_ns) / 1e6)
        out = {}
        for name, values in sorted(by_name.items()):
            arr = np.asarray(values)
            p50, p95, p99 = np.percentile(arr, [50, 95, 99])
            out[name] = StageSummary(len(values), float(p50), float(p95), float(p99))
        return out

    def chrome_trace(self) -> dict[str, object]:
        """The spans as a Chrome trace (µs), one process per peer and one track per thread: complete 'X' events,
        properly nested on each track, and async begin/end pairs for OVERLAPPING_STAGES."""
        spans = sorted(self.spans(), key=lambda s: (s.start_ns, -(s.end_ns - s.start_ns)))
        origin = spans[0].start_ns if spans else 0
        pids: dict[str, int] = {}
        tids: dict[tuple[str, str], int] = {}
        events: list[dict[str, object]] = []
        for span in spans:
            pid = pids.setdefault(span.peer, len(pids) + 1)
            tid = tids.setdefault((span.peer, span.thread), len(tids) + 1)
            ts, end = _trace_us(span.start_ns - origin), _trace_us(span.end_ns - origin)
            args = {"args": {"frame": span.frame}} if span.frame is not None else {}
            if span.name in OVERLAPPING_STAGES:
                key = {"cat": span.name, "id": f"{span.peer}:{span.thread}:{span.frame}:{span.start_ns}"}
                events.append({"name": span.name, "ph": "b", "pid": pid, "tid": tid, "ts": ts, **key, **args})
                events.append({"name": span.name, "ph": "e", "pid": pid, "tid": tid, "ts": max(ts, end), **key})
                continue
            events.append({"name": span.name, "ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": max(0.0, end - ts),
                           **args})
        for peer, pid in pids.items():
            events.append({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": peer}})
        for (peer, thread), tid in tids.items():
            events.append({"name": "thread_name", "ph": "M", "pid": pids[peer], "tid": tid, "args": {"name": thread}})
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def write_chrome_trace(self, path: Path) -> Path:
        """Write chrome_trace() as JSON to `path` (Perfetto and chrome://tracing open it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.chrome_trace()))
        return path


def _trace_us(ns: int) -> float:
    """Nanoseconds as trace microseconds in steps of 1/1024 µs: sums of such values are exact in a float, so a
    slice that ends where the next begins (ts + dur) meets it exactly and nesting stays clear."""
    return round(ns * 1024 / 1000) / 1024
