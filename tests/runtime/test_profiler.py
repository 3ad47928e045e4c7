"""Profiler: no-op when off, spans and percentiles on fake time, a Chrome trace of nested slices."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from codecav.clock import FakeClock
from codecav.runtime.profiler import Profiler, ProfilerOptions, Span, SpanStore


def test_disabled_profiler_records_nothing_and_shares_one_noop() -> None:
    profiler = Profiler(ProfilerOptions(enabled=False))
    first, second = profiler.span("decode"), profiler.span("render")
    assert first is second
    with first:
        pass
    profiler.add("decode", 0, 10)
    assert profiler.spans() == []


def test_env_switches_profiler_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODECAV_PROFILE", "1")
    monkeypatch.setenv("CODECAV_PROFILE_MAX_SPANS", "5")
    options = ProfilerOptions.from_env()
    assert options.enabled and options.max_spans == 5


def test_spans_percentiles_and_bound() -> None:
    fake = FakeClock()
    profiler = Profiler(ProfilerOptions(enabled=True, max_spans=100), clock=fake)
    for i in range(100):
        with profiler.span("decode", frame=i):
            fake.advance((i + 1) * 1_000_000)  # 1..100 ms
    with profiler.span("decode"):
        fake.advance(1)
    assert profiler.dropped == 1
    summary = profiler.summary()["decode"]
    assert summary.count == 100
    assert summary.p50_ms == pytest.approx(50.5)
    assert summary.p99_ms == pytest.approx(99.01)


def test_span_store_gives_back_what_it_kept_in_columns() -> None:
    store = SpanStore()
    store.append("decode", 10, 25, "render", 7, "bob")
    store.append("encode", -5, 2**62, "MainThread", None, "local")
    store.append("decode", 30, 31, "render", 0, "bob")
    assert store.spans() == [Span("decode", 10, 25, "render", 7, "bob"),
                             Span("encode", -5, 2**62, "MainThread", None, "local"),
                             Span("decode", 30, 31, "render", 0, "bob")]
    assert len(store) == 3


def test_many_spans_cost_tens_of_bytes_each() -> None:
    """A 10-minute call records ~200,000 spans; as objects they grew each participant by ~30 MB."""
    store = SpanStore()
    before = store.nbytes()
    for i in range(50_000):
        store.append(("decode", "render", "hold")[i % 3], 10**15 + i, 10**15 + i + 5_000_000, "render", i, "peer")
    assert (store.nbytes() - before) / 50_000 <= 48


def test_chrome_trace_nests_and_names_tracks(tmp_path: Path) -> None:
    fake = FakeClock(5_000_000)
    profiler = Profiler(ProfilerOptions(enabled=True), clock=fake)
    with profiler.span("render", frame=7):
        fake.advance(1_000_000)
        with profiler.span("draw", frame=7):
            fake.advance(2_000_000)
        fake.advance(1_000_000)
    worker = threading.Thread(target=lambda: profiler.add("decode", 0, 3_000_000, frame=7, peer="bob"),
                              name="decoder")
    worker.start()
    worker.join()
    trace = json.loads(profiler.write_chrome_trace(tmp_path / "trace.json").read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    by_name = {e["name"]: e for e in slices}
    outer, inner = by_name["render"], by_name["draw"]
    # Nested slices: the inner one lies within the outer one on the same track.
    assert outer["tid"] == inner["tid"] and outer["pid"] == inner["pid"]
    assert outer["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"]
    assert outer["dur"] == pytest.approx(4000.0)
    assert by_name["decode"]["pid"] != outer["pid"]
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert {"local", "bob", "decoder"} <= names
