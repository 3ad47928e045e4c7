"""The latency report: percentiles, first presents, bitrate bins, JSON with nulls, and the HTML page."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from codecav.runtime.profiler import Span
from codecav.runtime.report import (
    AudioPlayed,
    FramePresented,
    PacketSent,
    bitrate_series,
    build_report,
    first_presents,
    percentiles,
    report_to_json,
)
from codecav.runtime.report_html import write_report_html

MS = 1_000_000


def test_percentiles_of_known_values() -> None:
    p = percentiles(float(v) for v in range(1, 101))
    assert p.count == 100
    assert p.p50 == pytest.approx(50.5)
    assert p.p99 == pytest.approx(99.01)
    assert p.mean == pytest.approx(50.5)
    assert math.isnan(percentiles([]).p50)


def test_a_frame_held_over_several_displays_counts_once_at_its_first_present() -> None:
    frames = [FramePresented("bob", 7, 0, 30 * MS), FramePresented("bob", 7, 0, 20 * MS),
              FramePresented("bob", 8, 33 * MS, 50 * MS)]
    firsts = first_presents(frames)
    assert [(f.frame, f.present_ns) for f in firsts] == [(7, 20 * MS), (8, 50 * MS)]


def test_bitrate_bins_per_peer_and_kind() -> None:
    packets = [PacketSent("bob", int(t * 1e9), 100, 150) for t in (0.1, 0.5, 1.2)]
    packets.append(PacketSent("bob", int(2.5e9), 50, 80, kind="voice"))
    series = bitrate_series(packets, start_ns=0)
    assert series["bob/latent"] == [(0.0, 1.6), (1.0, 0.8)]
    assert series["bob/voice"] == [(0.0, 0.0), (1.0, 0.0), (2.0, 0.4)]


def test_build_report_end_to_end_figures() -> None:
    frames = [FramePresented("bob", i, i * 33 * MS, i * 33 * MS + (10 + i) * MS) for i in range(10)]
    audio = [AudioPlayed("bob", i * 20 * MS, i * 20 * MS + 40 * MS) for i in range(50)]
    packets = [PacketSent("bob", i * 33 * MS, 125, 200) for i in range(30)]  # 30 x 1000 bits in 1 s
    spans = [Span("decode", 0, 2 * MS, "render", 1, "bob"), Span("render", 2 * MS, 7 * MS, "render", 1, "bob")]
    report = build_report(spans=spans, frames=frames, audio=audio, packets=packets, start_ns=0, end_ns=10**9,
                          avatars=1, frames_rendered=30, extra={"frames_lost": 0})
    assert report.capture_to_photon_ms.p50 == pytest.approx(14.5)
    assert report.mouth_to_ear_ms.p50 == pytest.approx(40.0)
    assert report.latent_kbps_per_avatar == pytest.approx(30.0)
    assert report.latent_wire_kbps_per_avatar == pytest.approx(48.0)
    assert list(report.stages) == ["decode", "render"] and report.stages["render"].p50 == pytest.approx(5.0)
    # Frame i shows capture 33i at 33i + 10 + i, when the voice heard was captured 40 ms before: 30 - i ahead.
    assert report.peers[0].av_offset_ms.count == 10
    assert report.peers[0].av_offset_ms.p50 == pytest.approx(40.0 - 14.5)
    data = json.loads(report_to_json(report))
    assert data["capture_to_photon_ms"]["p50"] == pytest.approx(14.5)
    assert data["extra"] == {"frames_lost": 0}


def test_json_writes_null_for_what_was_not_measured() -> None:
    report = build_report(spans=[], frames=[], audio=[], packets=[], start_ns=0, end_ns=10**9, avatars=0,
                          frames_rendered=0)
    text = report_to_json(report)
    assert "NaN" not in text
    assert json.loads(text)["mouth_to_ear_ms"]["p50"] is None


def test_html_report_has_tables_and_inline_plots(tmp_path: Path) -> None:
    frames = [FramePresented("bob", i, i * 33 * MS, i * 33 * MS + 12 * MS) for i in range(20)]
    packets = [PacketSent("bob", i * 33 * MS, 125, 200) for i in range(60)]
    spans = [Span("decode", 0, 2 * MS, "render", 1, "bob")]
    report = build_report(spans=spans, frames=frames, audio=[], packets=packets, start_ns=0, end_ns=2 * 10**9,
                          avatars=1, frames_rendered=60)
    page = write_report_html(report, frames, tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "capture-to-photon" in page and "<td>decode</td>" in page
