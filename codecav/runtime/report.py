"""The latency report: per-stage percentiles, capture-to-photon and mouth-to-ear per remote peer, where each
displayed frame's time went (its stages, which add up to its capture-to-photon), how joining each remote went,
bitrate.

Pure functions over records the engine collects; every time is nanoseconds on the receiver's monotonic
clock (remote capture times are mapped through clock sync before they get here).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codecav.runtime.profiler import Span

if TYPE_CHECKING:
    from codecav.net.call_types import JoinTimeline

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
    av_offset_ms: Percentiles
    """Lip-sync at the eye and ear, one value per display of this peer's face while its voice played: the capture
    time of the face seen minus that of the voice heard at that instant. Positive: the face shows a later moment
    than the voice (sound behind picture); negative: the voice is ahead of the face. codecav aims for -30..+60 ms
    (codecav.net.lip_sync)."""


FRAME_STAGES = ("encode", "send", "receive", "hold", "decode", "render", "present")
"""The stages of one displayed frame, back to back from its capture to its photon: capture and encode (the
capture stamp to the code ready), send (handing it to the network), receive (from the sender's hand-off, through
the network, to parsed and in the jitter buffer), hold (waiting there for its display time), decode, render and
present (the display frame that first showed it)."""

JOIN_TRACK = "join "
"""Thread-name prefix of the join slices in a trace (`join_spans`); the stage table leaves them out."""


@dataclass(frozen=True)
class FrameStages:
    """Where one displayed frame's capture-to-photon went."""

    peer: str
    """Whose frame (remote peer id)."""
    frame: int
    """Its LatentFrame sequence."""
    capture_to_photon_ms: float
    """Capture time of the state shown to the present of the first display frame showing it."""
    stages_ms: dict[str, float]
    """Duration of each of FRAME_STAGES, in that order."""

    @property
    def unaccounted_ms(self) -> float:
        """Capture-to-photon minus the sum of the stages: the gaps between them (other avatars' decodes in a
        scene of several, scheduling); about zero for one remote avatar."""
        return self.capture_to_photon_ms - sum(self.stages_ms.values())


@dataclass(frozen=True)
class JoinTimes:
    """When each step of joining one remote happened, ns on the receiver's clock (None: unknown or not yet)."""

    peer: str
    """The remote peer id."""
    start_ns: int
    """When joining this peer began: this participant's call session started or, if the peer came later, signaling
    named it (JoinTimeline.announced_us)."""
    signaling_ns: int | None = None
    """The offer or answer for this peer went through the signaling server."""
    ice_ns: int | None = None
    """ICE found a working candidate pair."""
    dtls_ns: int | None = None
    """The DTLS handshake finished."""
    channels_ns: int | None = None
    """Both data channels are open."""
    avatar_fetch_ns: int | None = None
    """The peer's avatar package is here (from the cache, or its last chunk received)."""
    verify_ns: int | None = None
    """The package passed verification and its decoder session is loaded."""
    prepare_ns: int | None = None
    """The runtime added the avatar to its scene and warmed it up (decoder session, GL programs, one offscreen
    decode and draw)."""
    first_decode_ns: int | None = None
    """The remote's first frame was decoded (after it arrived and waited in the jitter buffer)."""
    first_photon_ns: int | None = None
    """The display frame showing it was presented."""
    avatar_cached: bool = False
    """The avatar came from the local cache (no transfer)."""
    viewer: str = "local"
    """Who joined (the receiving participant)."""

    @staticmethod
    def from_timeline(peer: str, start_ns: int, timeline: JoinTimeline, *, offset_ns: int = 0,
                      prepare_ns: int | None = None, first_decode_ns: int | None = None,
                      first_photon_ns: int | None = None, viewer: str = "local") -> JoinTimes:
        """The network's JoinTimeline (µs on the call's clock, `offset_ns` added to reach this clock) with the
        runtime's own steps. Joining starts at `start_ns` (our own join) or, when the peer came later, when
        signaling named it: time spent waiting for a peer to arrive is not time spent joining it."""
        def ns(us: int | None) -> int | None:
            return None if us is None else us * 1000 + offset_ns

        announced = ns(timeline.announced_us)
        start = start_ns if announced is None else max(start_ns, announced)
        return JoinTimes(peer, start, ns(timeline.signaling_us), ns(timeline.ice_connected_us),
                         ns(timeline.dtls_connected_us), ns(timeline.channels_open_us),
                         ns(timeline.avatar_fetched_us), ns(timeline.avatar_verified_us), prepare_ns,
                         first_decode_ns, first_photon_ns, timeline.avatar_cached, viewer)

    def steps(self) -> list[tuple[str, int | None]]:
        """(step, time) in order: the JOIN_STEPS."""
        return [(name, getattr(self, f"{name}_ns")) for name in JOIN_STEPS]


JOIN_STEPS = ("signaling", "ice", "dtls", "channels", "avatar_fetch", "verify", "prepare", "first_decode",
              "first_photon")
"""The steps of joining one remote, in order (the fields of JoinTimes)."""


@dataclass(frozen=True)
class PeerJoin:
    """How joining one remote went: seconds from the start of joining to each step (None: unknown)."""

    viewer: str
    """Who joined (the receiving participant)."""
    avatar_cached: bool
    """The remote's avatar came from the local cache."""
    signaling_s: float | None
    """Offer/answer through the signaling server."""
    ice_s: float | None
    """ICE connected."""
    dtls_s: float | None
    """DTLS connected."""
    channels_s: float | None
    """Data channels open."""
    avatar_fetch_s: float | None
    """Avatar package here."""
    verify_s: float | None
    """Avatar verified, decoder session loaded."""
    prepare_s: float | None
    """Avatar in the scene and warmed up."""
    first_decode_s: float | None
    """First remote frame decoded."""
    first_photon_s: float | None
    """First remote frame on the display: the time to first frame."""

    @staticmethod
    def of(times: JoinTimes) -> PeerJoin:
        """Seconds from `times.start_ns` to each step."""
        seconds = {f"{name}_s": None if t is None else (t - times.start_ns) / 1e9 for name, t in times.steps()}
        return PeerJoin(times.viewer, times.avatar_cached, **seconds)


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
    unaccounted_ms: Percentiles = field(default_factory=lambda: percentiles([]))
    """Per displayed frame whose stages were all recorded: capture-to-photon minus the sum of its FRAME_STAGES
    (near zero when the stage table explains the latency)."""
    join: dict[str, PeerJoin] = field(default_factory=dict)
    """Per remote peer: how joining it went."""
    time_to_first_frame_s: float | None = None
    """From the start of joining to the first photon showing a remote; the worst over `join`."""


def percentiles(values_ms: Iterable[float]) -> Percentiles:
    """Percentiles of `values_ms`; NaNs when empty."""
    arr = np.asarray(list(values_ms), np.float64)
    if arr.size == 0:
        nan = float("nan")
        return Percentiles(0, nan, nan, nan, nan)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return Percentiles(int(arr.size), float(p50), float(p95), float(p99), float(arr.mean()))


def stage_percentiles(spans: Iterable[Span]) -> dict[str, Percentiles]:
    """Per span name, the durations' percentiles in ms, names in first-seen order (join slices left out)."""
    by_name: dict[str, list[float]] = {}
    for span in spans:
        if span.thread.startswith(JOIN_TRACK):
            continue
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


def frame_stages(spans: Sequence[Span], frames: Iterable[FramePresented]) -> list[FrameStages]:
    """Per displayed frame (first present) whose stages were all recorded: its FRAME_STAGES. encode, send,
    receive, hold and decode are the spans tagged with the frame's peer and id (the decode of the display frame
    that showed it first); render and present are that display frame's (untagged) spans."""
    tagged: dict[tuple[str, str, int], list[Span]] = {}
    display: dict[str, list[Span]] = {"render": [], "present": []}
    for span in spans:
        if span.frame is not None:
            tagged.setdefault((span.name, span.peer, span.frame), []).append(span)
        elif span.name in display:
            display[span.name].append(span)
    for name in display:
        display[name].sort(key=lambda sp: sp.end_ns)
    ends = {name: [sp.end_ns for sp in display[name]] for name in display}

    def last_before(name: str, t_ns: int) -> Span | None:
        index = bisect.bisect_right(ends[name], t_ns)
        return display[name][index - 1] if index else None

    out = []
    for f in first_presents(frames):
        present = last_before("present", f.present_ns)
        render = None if present is None else last_before("render", present.start_ns)
        decodes = [] if render is None else [sp for sp in tagged.get(("decode", f.peer, f.frame), [])
                                             if sp.end_ns <= render.start_ns]
        found = {name: tagged.get((name, f.peer, f.frame)) for name in ("encode", "send", "receive", "hold")}
        if present is None or render is None or not decodes or not all(found.values()):
            continue
        chosen = {name: found_spans[0] for name, found_spans in found.items() if found_spans}
        chosen.update(decode=max(decodes, key=lambda sp: sp.end_ns), render=render, present=present)
        out.append(FrameStages(f.peer, f.frame, (f.present_ns - f.capture_ns) / 1e6,
                               {name: (chosen[name].end_ns - chosen[name].start_ns) / 1e6 for name in FRAME_STAGES}))
    return out


def join_spans(times: JoinTimes, peer: str = "local") -> list[Span]:
    """The join of one remote as slices on its own track ('join REMOTE'): each step's slice runs from the
    previous known step (or the start) to it; unknown steps have none."""
    spans = []
    last = times.start_ns
    for name, t in times.steps():
        if t is None:
            continue
        spans.append(Span(name, min(last, t), t, f"{JOIN_TRACK}{times.peer}", None, peer))
        last = max(last, t)
    return spans


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


def av_offsets_ms(frames: Sequence[FramePresented], audio: Sequence[AudioPlayed],
                  max_gap_ns: int = 100_000_000) -> list[float]:
    """For each display of a face (`frames`, one peer) with that peer's voice heard within `max_gap_ns` of it
    (`audio`, blocks with their capture and playout times): the face's capture time seen minus the voice's capture
    time heard at the display's present (+ = face ahead of the voice)."""
    blocks = sorted(audio, key=lambda a: a.playout_ns)
    if not blocks:
        return []
    starts = np.asarray([a.playout_ns for a in blocks], np.int64)
    last = starts.size - 1
    offsets = []
    for f in frames:
        before = int(np.clip(np.searchsorted(starts, f.present_ns, side="right") - 1, 0, last))
        block = min(blocks[before], blocks[min(before + 1, last)], key=lambda a: abs(a.playout_ns - f.present_ns))
        if abs(block.playout_ns - f.present_ns) > max_gap_ns:
            continue
        heard_capture_ns = block.capture_ns + (f.present_ns - block.playout_ns)
        offsets.append((f.capture_ns - heard_capture_ns) / 1e6)
    return offsets


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
    joins: Sequence[JoinTimes] = (),
    stages_of_frames: Sequence[FrameStages] | None = None,
) -> LatencyReport:
    """Summarise one run; `packets` are the latent/voice messages received from the remote peers. `joins`: how
    joining each remote went; `stages_of_frames`: each displayed frame's stages (default: `frame_stages` of
    `spans` and `frames`, right where they come from one process)."""
    duration_s = max((end_ns - start_ns) / 1e9, 1e-9)
    presented = first_presents(frames)
    peers = sorted({f.peer for f in presented} | {a.peer for a in audio})
    per_peer = []
    for peer in peers:
        face = [(f.present_ns - f.capture_ns) / 1e6 for f in presented if f.peer == peer]
        voice = [(a.playout_ns - a.capture_ns) / 1e6 for a in audio if a.peer == peer]
        face_p, voice_p = percentiles(face), percentiles(voice)
        offsets = av_offsets_ms([f for f in frames if f.peer == peer], [a for a in audio if a.peer == peer])
        per_peer.append(PeerLatency(peer, face_p, voice_p, len(face), percentiles(offsets)))
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
        unaccounted_ms=percentiles(f.unaccounted_ms for f in (
            frame_stages(spans, presented) if stages_of_frames is None else stages_of_frames)),
        join={t.peer: PeerJoin.of(t) for t in joins},
        time_to_first_frame_s=time_to_first_frame_s(joins),
    )


def time_to_first_frame_s(joins: Iterable[JoinTimes]) -> float | None:
    """The worst time from the start of joining to the first photon of a remote; None when none was shown."""
    times = [(t.first_photon_ns - t.start_ns) / 1e9 for t in joins if t.first_photon_ns is not None]
    return max(times) if times else None


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
