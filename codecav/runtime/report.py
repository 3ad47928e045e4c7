"""The latency report: per-stage percentiles, capture-to-photon and mouth-to-ear per remote peer, bitrate.

Pure functions over records the engine collects; every time is nanoseconds on the receiver's monotonic
clock (remote capture times are mapped through clock sync before they get here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from codecav.runtime.profiler import Span

DATA_CHANNEL_OVERHEAD_BYTES = 81
"""Estimated bytes a WebRTC data-channel message adds on the wire over IPv4 (IP 20 + UDP 8 + DTLS 1.2 record
with AES-GCM ~29 + SCTP common header 12 + DATA chunk 16), for 'wire' kbps where packets are not captured."""


@dataclass(frozen=True)
class FramePresented:
    """One remote avatar frame that reached the display."""

    peer: str
    """Remote peer id (whose avatar)."""
    frame: int
    """The sender's LatentFrame sequence."""
    capture_ns: int
    """Sender's capture time, mapped onto the local clock."""
    present_ns: int
    """When the frame showing it was presented (photon time as far as software can tell)."""


@dataclass(frozen=True)
class AudioPlayed:
    """One block of remote voice that was played out."""

    peer: str
    """Remote peer id."""
    capture_ns: int
    """Sender's microphone capture time of the block's first sample, mapped onto the local clock."""
    playout_ns: int
    """When that sample left the local sound device (output latency included where the device reports it)."""


@dataclass(frozen=True)
class PacketSent:
    """One message on a call channel."""

    peer: str
    """Whose stream ('local' for what this process sent)."""
    time_ns: int
    """When it was sent or received."""
    payload_bytes: int
    """Application payload (the msgpack latent message, the Opus frame)."""
    wire_bytes: int
    """Estimated bytes on the wire with SCTP/DTLS/UDP/IP (or RTP/SRTP) overhead."""
    kind: str = "latent"
    """'latent', 'voice' or 'control'."""


@dataclass(frozen=True)
class Percentiles:
    """Percentiles of a set of values, milliseconds (NaN when there were none)."""

    count: int
    """How many values."""
    p50: float
    """Median."""
    p95: float
    """95th percentile."""
    p99: float
    """99th percentile."""
    mean: float
    """Mean."""


@dataclass(frozen=True)
class PeerLatency:
    """End-to-end latencies of one remote peer."""

    peer: str
    """Remote peer id."""
    capture_to_photon_ms: Percentiles
    """Sender's face capture to local present."""
    mouth_to_ear_ms: Percentiles
    """Sender's microphone capture to local playout."""
    frames_presented: int
    """Distinct remote frames that reached the display."""
    av_offset_ms: float
    """Median face latency minus median voice latency: positive means the face lags the voice."""


@dataclass(frozen=True)
class LatencyReport:
    """Everything report.json holds."""

    duration_s: float
    """Wall time the measurement covered."""
    avatars: int
    """Avatars rendered (local view of remote peers, plus any local preview)."""
    frames_rendered: int
    """Display frames presented."""
    capture_to_photon_ms: Percentiles
    """Over all remote peers."""
    mouth_to_ear_ms: Percentiles
    """Over all remote peers."""
    latent_kbps_per_avatar: float
    """Mean latent payload bitrate per sending avatar."""
    latent_wire_kbps_per_avatar: float
    """The same with transport overhead."""
    stages: dict[str, Percentiles]
    """Per profiler span name: durations in ms."""
    peers: list[PeerLatency]
    """Per remote peer."""
    bitrate_kbps: dict[str, list[tuple[float, float]]]
    """Per 'peer/kind': (seconds since start, kbps) per one-second bin."""
    extra: dict[str, object] = field(default_factory=dict)
    """Scenario-specific figures (frames lost, clock offset, devices...)."""


def percentiles(values_ms: Iterable[float]) -> Percentiles:
    """Percentiles of `values_ms`; NaNs when empty."""
    arr = np.asarray(list(values_ms), np.float64)
    if arr.size == 0:
        nan = float("nan")
        return Percentiles(0, nan, nan, nan, nan)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return Percentiles(int(arr.size), float(p50), float(p95), float(p99), float(arr.mean()))


def stage_percentiles(spans: Iterable[Span]) -> dict[str, Percentiles]:
    """Per span name, the durations' percentiles in ms, names in first-seen order."""
    by_name: dict[str, list[float]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append((span.end_ns - span.start_ns) / 1e6)
    return {name: percentiles(values) for name, values in by_name.items()}


def first_presents(frames: Iterable[FramePresented]) -> list[FramePresented]:
    """Each (peer, frame) once, at its first present: a frame held over several displays counts once."""
    seen: dict[tuple[str, int], FramePresented] = {}
    for f in frames:
        key = (f.peer, f.frame)
        if key not in seen or f.present_ns < seen[key].present_ns:
            seen[key] = f
    return sorted(seen.values(), key=lambda f: (f.peer, f.frame))


def bitrate_series(packets: Sequence[PacketSent], start_ns: int, bin_s: float = 1.0,
                   wire: bool = False) -> dict[str, list[tuple[float, float]]]:
    """Per 'peer/kind', kbps in consecutive `bin_s` bins from `start_ns` (payload or wire bytes)."""
    series: dict[str, dict[int, int]] = {}
    for p in packets:
        key = f"{p.peer}/{p.kind}"
        index = int((p.time_ns - start_ns) / (bin_s * 1e9))
        if index < 0:
            continue
        bins = series.setdefault(key, {})
        bins[index] = bins.get(index, 0) + (p.wire_bytes if wire else p.payload_bytes)
    out: dict[str, list[tuple[float, float]]] = {}
    for key, bins in series.items():
        last = max(bins)
        out[key] = [(i * bin_s, bins.get(i, 0) * 8 / 1000 / bin_s) for i in range(last + 1)]
    return out


def mean_kbps(packets: Sequence[PacketSent], duration_s: float, kind: str = "latent", wire: bool = False) -> float:
    """Mean bitrate of `kind` messages per distinct sending peer over `duration_s`."""
    chosen = [p for p in packets if p.kind == kind]
    peers = {p.peer for p in chosen}
    if not peers or duration_s <= 0:
        return 0.0
    total = sum(p.wire_bytes if wire else p.payload_bytes for p in chosen)
    return total * 8 / 1000 / duration_s / len(peers)


def build_report(
    *,
    spans: Sequence[Span],
    frames: Sequence[FramePresented],
    audio: Sequence[AudioPlayed],
    packets: Sequence[PacketSent],
    start_ns: int,
    end_ns: int,
    avatars: int,
    frames_rendered: int,
    extra: dict[str, object] | None = None,
) -> LatencyReport:
    """Summarise one run; `packets` are the latent/voice messages received from the remote peers."""
    duration_s = max((end_ns - start_ns) / 1e9, 1e-9)
    presented = first_presents(frames)
    peers = sorted({f.peer for f in presented} | {a.peer for a in audio})
    per_peer = []
    for peer in peers:
        face = [(f.present_ns - f.capture_ns) / 1e6 for f in presented if f.peer == peer]
        voice = [(a.playout_ns - a.capture_ns) / 1e6 for a in audio if a.peer == peer]
        face_p, voice_p = percentiles(face), percentiles(voice)
        per_peer.append(PeerLatency(peer, face_p, voice_p, len(face), face_p.p50 - voice_p.p50))
    return LatencyReport(
        duration_s=duration_s,
        avatars=avatars,
        frames_rendered=frames_rendered,
        capture_to_photon_ms=percentiles((f.present_ns - f.capture_ns) / 1e6 for f in presented),
        mouth_to_ear_ms=percentiles((a.playout_ns - a.capture_ns) / 1e6 for a in audio),
        latent_kbps_per_avatar=mean_kbps(packets, duration_s),
        latent_wire_kbps_per_avatar=mean_kbps(packets, duration_s, wire=True),
        stages=stage_percentiles(spans),
        peers=per_peer,
        bitrate_kbps=bitrate_series(packets, start_ns),
        extra=dict(extra or {}),
    )


def report_to_json(report: LatencyReport) -> str:
    """report.json text: NaN (nothing measured) becomes null so every JSON reader accepts it."""
    return json.dumps(_nan_to_none(asdict(report)), indent=2) + "\n"


def write_report_json(report: LatencyReport, path: Path) -> Path:
    """Write report.json; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_to_json(report))
    return path


def _nan_to_none(value: object) -> object:
    if isinstance(value, float):
        return None if value != value else round(value, 4)
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
