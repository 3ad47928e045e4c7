"""report.html: the latency report as one self-contained page with matplotlib plots (PNG, inlined)."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

from codecav.runtime.profiler import STAGES
from codecav.runtime.report import JOIN_STEPS, FramePresented, LatencyReport, Percentiles, first_presents


def _png(fig: object) -> str:
    """A matplotlib figure as a data: URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")  # type: ignore[attr-defined]
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _row(name: str, p: Percentiles) -> str:
    return (f"<tr><td>{html.escape(name)}</td><td>{p.count}</td><td>{_fmt(p.p50)}</td><td>{_fmt(p.p95)}</td>"
            f"<td>{_fmt(p.p99)}</td><td>{_fmt(p.mean)}</td></tr>")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _join_table(report: LatencyReport) -> str:
    """One row per remote: seconds from the start of joining to each step."""
    if not report.join:
        return ""
    head = "".join(f"<th>{html.escape(step.replace('_', ' '))}</th>" for step in JOIN_STEPS)
    rows = "".join(
        f"<tr><td>{html.escape(j.viewer)} sees {html.escape(peer)}{' (cached)' if j.avatar_cached else ''}</td>"
        + "".join(f"<td>{_seconds(getattr(j, f'{step}_s'))}</td>" for step in JOIN_STEPS) + "</tr>"
        for peer, j in report.join.items())
    first = _seconds(report.time_to_first_frame_s)
    return (f"<h2>Join</h2><p>Time to first remote frame: {first} s (the slowest remote; seconds from the start "
            f"of joining, each step in order).</p><table><tr><th>remote</th>{head}</tr>{rows}</table>")


def _ordered_stages(report: LatencyReport) -> list[str]:
    known = [s for s in STAGES if s in report.stages]
    return known + [s for s in report.stages if s not in STAGES]


def plot_images(report: LatencyReport, frames: list[FramePresented]) -> dict[str, str]:
    """The report's plots as data: URIs: stage bars, latency over time, bitrate over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images: dict[str, str] = {}
    names = _ordered_stages(report)
    if names:
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
        y = range(len(names))
        ax.barh(y, [report.stages[n].p50 for n in names], color="#4c72b0", label="p50")
        ax.scatter([report.stages[n].p99 for n in names], list(y), color="#c44e52", marker="|", s=200, label="p99")
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set_xlabel("ms")
        ax.set_title("Per-stage time")
        ax.legend(loc="lower right")
        images["stages"] = _png(fig)
        plt.close(fig)
    presented = first_presents(frames)
    if presented:
        fig, ax = plt.subplots(figsize=(7, 3))
        t0 = min(f.present_ns for f in presented)
        for peer in sorted({f.peer for f in presented}):
            mine = [f for f in presented if f.peer == peer]
            ax.plot([(f.present_ns - t0) / 1e9 for f in mine], [(f.present_ns - f.capture_ns) / 1e6 for f in mine],
                    ".", markersize=3, label=peer)
        ax.set_xlabel("s")
        ax.set_ylabel("capture-to-photon, ms")
        ax.set_title("Capture-to-photon per remote frame")
        ax.legend()
        images["latency"] = _png(fig)
        plt.close(fig)
    if report.bitrate_kbps:
        fig, ax = plt.subplots(figsize=(7, 3))
        for key, series in sorted(report.bitrate_kbps.items()):
            ax.step([t for t, _ in series], [k for _, k in series], where="post", label=key)
        ax.set_xlabel("s")
        ax.set_ylabel("kbit/s (payload)")
        ax.set_title("Bitrate over time")
        ax.legend()
        images["bitrate"] = _png(fig)
        plt.close(fig)
    return images


def report_html(report: LatencyReport, frames: list[FramePresented], title: str = "codecav latency report") -> str:
    """The whole page."""
    images = plot_images(report, frames)
    stage_rows = "".join(_row(n, report.stages[n]) for n in _ordered_stages(report))
    peer_rows = "".join(
        _row(f"{p.peer}: capture-to-photon", p.capture_to_photon_ms)
        + _row(f"{p.peer}: mouth-to-ear", p.mouth_to_ear_ms)
        for p in report.peers)
    extra_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                         for k, v in report.extra.items())
    figures = "".join(f'<figure><img alt="{k}" src="{uri}"></figure>' for k, uri in images.items())
    head = "<tr><th>what</th><th>n</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>mean ms</th></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{report.duration_s:.1f} s, {report.avatars} avatar(s), {report.frames_rendered} frames rendered,
latent {report.latent_kbps_per_avatar:.2f} kbit/s per avatar ({report.latent_wire_kbps_per_avatar:.2f} on the wire).</p>
<h2>End to end</h2><table>{head}{_row("capture-to-photon", report.capture_to_photon_ms)}
{_row("mouth-to-ear", report.mouth_to_ear_ms)}{peer_rows}</table>
<h2>Stages</h2><p>A displayed frame's stages run back to back from its capture to its photon (encode, send,
receive, hold in the jitter buffer, decode, render, present); what they leave out of its capture-to-photon:</p>
<table>{head}{_row("unaccounted", report.unaccounted_ms)}</table>
<table>{head}{stage_rows}</table>
{_join_table(report)}
<h2>Run</h2><table>{extra_rows}</table>
{figures}
<p>Open trace.json in <a href="https://ui.perfetto.dev">Perfetto</a> for every span.</p>
</body></html>
"""


def write_report_html(report: LatencyReport, frames: list[FramePresented], path: Path,
                      title: str = "codecav latency report") -> Path:
    """Write report.html; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(report, frames, title))
    return path
