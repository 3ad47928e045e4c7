"""`codecav demo`: two participants in two processes call each other over WebRTC on loopback through the
built-in signaling server; each is a sample avatar driven by its recorded clip, with voice; each renders the
other. The demo writes out/demo.mp4 (both views side by side, both voices), out/trace.json (Perfetto),
out/report.json and out/report.html, and prints a five-line summary.

The participants run the command the caller passes (`codecav demo` passes `python -m codecav.cli.demo_peer`);
each reports typed events (codecav.runtime.demo_peer) as lines of JSON on its stdout, parsed here; its stderr
goes to out/peers/NAME/stderr.log.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from codecav.assets.samples import demo_sample_paths
from codecav.clock import MONOTONIC, Clock
from codecav.errors import CodecavError
from codecav.runtime.demo_peer import (
    DemoChannelError,
    DemoPeerConfig,
    DemoPeerEvent,
    PeerFailed,
    RemoteArrived,
    parse_event,
)
from codecav.runtime.engine import NetworkThread
from codecav.runtime.profiler import Profiler, ProfilerOptions, Span
from codecav.runtime.report import (
    DATA_CHANNEL_OVERHEAD_BYTES,
    AudioPlayed,
    FramePresented,
    FrameStages,
    JoinTimes,
    PacketSent,
    build_report,
    frame_stages,
    write_report_json,
)
from codecav.runtime.report_html import write_report_html
from codecav.runtime.video import Mp4Writer
from codecav.runtime.voice import FRAME_SAMPLES, VOICE_RATE, ReceivedVoice, SentVoice, mouth_to_ear_ns

PEER_NAMES = ("alice", "bob")
"""The two participants."""


class DemoError(CodecavError):
    """The demo cannot run."""


@dataclass(frozen=True)
class DemoCast:
    """Who takes part: avatar package and clip per participant, and what was used in their place."""

    avatars: list[Path]
    """Avatar package per participant."""
    clips: list[Path | None]
    """Recorded clip per participant (None: synthetic codes, no voice)."""
    notes: list[str]
    """One line each for anything that is not the shipped sample + clip."""


def choose_cast(work: Path, avatars: Sequence[Path] | None = None) -> DemoCast:
    """The participants' avatars: `avatars` (one per participant; DemoError naming the one that is not a file), or
    the shipped DEMO_PAIR; each with the clip of its studio identity; stand-ins (said so) where they are missing."""
    from codecav.assets.synthetic.avatar import build_synthetic_avatar
    from codecav.assets.writer import write_avatar

    notes: list[str] = []
    if avatars is not None:
        if len(avatars) != len(PEER_NAMES):
            raise DemoError(f"the demo takes {len(PEER_NAMES)} avatars, one per participant; got {len(avatars)}")
        for path in avatars:
            if not Path(path).is_file():
                raise DemoError(f"{path}: no such avatar file; give the path of a .cavatar package")
        chosen: list[Path] = [Path(p) for p in avatars]
    else:
        chosen = demo_sample_paths()[: len(PEER_NAMES)]
    if len(chosen) < len(PEER_NAMES):
        notes.append("no trained sample avatars ship in this checkout: using random-weight plumbing avatars")
        chosen = [write_avatar(build_synthetic_avatar(seed=i, expression_encoder=True),
                               work / f"synthetic-{i}.cavatar") for i in range(len(PEER_NAMES))]
    clips: list[Path | None] = []
    for i, avatar in enumerate(chosen):
        clip = _clip_for(avatar, i)
        if clip is None:
            notes.append(f"no driving clip for {avatar.name}: synthetic codes and no voice for {PEER_NAMES[i]}")
        clips.append(clip)
    return DemoCast(chosen, clips, notes)


def _clip_for(avatar: Path, index: int) -> Path | None:
    """The shipped clip of the studio identity the avatar was trained on (provenance), if any."""
    try:
        from codecav.assets.loader import load_avatar
        from codecav.encoders.clip import shipped_clip
    except ImportError:
        return None
    provenance = load_avatar(avatar).manifest.provenance
    if provenance.get("kind") != "trained":
        return None
    data = provenance.get("data")
    identity = data.get("identity", index) if isinstance(data, dict) else index
    if isinstance(identity, dict):  # {"index": 0, "name": "ada", "seed": 0}
        identity = identity.get("index", index)
    clip = shipped_clip(int(identity))
    return clip if (clip / "clip.json").is_file() else None


@dataclass(frozen=True)
class PeerLine:
    """One line a participant process wrote on its event channel, parsed."""

    peer: str
    """Which participant wrote it."""
    event: DemoPeerEvent | None
    """The event, or None when the line was not one."""
    problem: str = ""
    """Why the line is not an event (empty for an event)."""

    def describe(self) -> str:
        """One progress line."""
        if self.event is not None:
            return f"  {self.peer}: {self.event.describe()}"
        return f"  {self.peer}: ignored a line that is not a demo event ({self.problem})"


def read_peer_lines(peer: str, stream: Iterable[str]) -> Iterator[PeerLine]:
    """Parse a participant's event channel (see codecav.cli.demo_peer) line by line; blank lines are skipped,
    a line that is not an event comes back with the problem instead of raising."""
    for line in stream:
        if not line.strip():
            continue
        try:
            yield PeerLine(peer, parse_event(line))
        except DemoChannelError as exc:
            yield PeerLine(peer, None, str(exc))


def _pump(proc: subprocess.Popen[str], peer: str, lines: queue.Queue[PeerLine], arrived: threading.Event) -> None:
    assert proc.stdout is not None
    for line in read_peer_lines(peer, proc.stdout):
        lines.put(line)
        arrived.set()  # wakes the demo's loop at once: `start` must not wait for its next poll


def _say_start(procs: Sequence[subprocess.Popen[str]]) -> None:
    """Tell every participant that all are ready (one `start` line on its stdin, see codecav.cli.demo_peer)."""
    for proc in procs:
        if proc.stdin is None or proc.poll() is not None:
            continue
        try:
            proc.stdin.write("start\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it has gone; its exit status and stderr tell why


def _failure(peer: str, proc: subprocess.Popen[str], failed: PeerFailed | None, log_path: Path) -> str:
    """One line on why a participant stopped: its `failed` event, else the last line of its stderr."""
    if failed is not None:
        return f"{peer}: {failed.message}"
    err = log_path.read_text(errors="replace").strip().splitlines() if log_path.is_file() else []
    return f"{peer}: {err[-1] if err else f'exit status {proc.returncode}'}"


WARMUP_S = 3.0
"""Latency and bitrate figures leave out the first seconds of the call: connection set-up delays the first
frames, and the jitter buffer then takes a few seconds to settle from its first, cautious delay."""

POLL_NS = 200_000_000
"""How often the demo checks on the participant processes (a line from one wakes it at once)."""


def run_call_demo(out_dir: Path, seconds: float = 12.0, size: int = 320, warmup_s: float = WARMUP_S, *,
                  peer_command: Sequence[str], impairment: tuple[float, float] | None = None,
                  voice_path: str = "codecav", cache_root: Path | None = None,
                  headset_peer: str | None = None, avatars: Sequence[Path] | None = None,
                  clock: Clock = MONOTONIC) -> Iterator[str]:
    """Run the two-process call of `avatars` (default: the shipped DEMO_PAIR; see choose_cast), yielding progress
    lines, then the summary; latency figures are taken after `warmup_s` (the report says so), counts cover the whole
    call. Each participant runs as `[*peer_command, CONFIG.json]` (e.g. `python -m codecav.cli.demo_peer`) and
    reports on its stdout as that module describes; `clock` paces the polling and the time-out. `impairment` (loss
    share, jitter ms) impairs what every participant sends (codecav.net.impairment); `voice_path` picks the voice
    receive path ('aiortc' is the baseline); `cache_root/NAME/cache` holds each participant's avatar cache (default
    under out_dir, so a fresh demo fetches the avatars); `headset_peer` (one of PEER_NAMES) runs its side of the call
    in the OpenXR headset, its head driving its avatar, while the other stays headless."""
    from codecav.net.signaling.join_token import make_join_token
    from codecav.net.signaling.server import SignalingServer

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "peers"
    work.mkdir(exist_ok=True)
    chosen = choose_cast(work, avatars)
    for note in chosen.notes:
        yield f"codecav demo: {note}"
    secret = secrets.token_bytes(32)
    net = NetworkThread("codecav-signal")
    server = SignalingServer("127.0.0.1", 0, secret)
    net.call(server.start(), timeout=10)
    room = f"demo-{secrets.token_hex(3)}"
    yield f"codecav demo: signaling on {server.url}, room {room}; starting {' and '.join(PEER_NAMES)}"
    # The clips' shared origin is on the host's monotonic clock, which the participant processes read too.
    start_ns = MONOTONIC.now_ns() + 2_000_000_000
    procs: list[subprocess.Popen[str]] = []
    logs: list[Path] = []
    pumps: list[threading.Thread] = []
    lines: queue.Queue[PeerLine] = queue.Queue()
    arrived = threading.Event()
    failed: dict[str, PeerFailed] = {}
    ready: set[str] = set()

    def drain() -> Iterator[str]:
        while True:
            try:
                line = lines.get_nowait()
            except queue.Empty:
                return
            if isinstance(line.event, PeerFailed):
                failed[line.peer] = line.event
            if isinstance(line.event, RemoteArrived):
                ready.add(line.peer)
                if ready == set(PEER_NAMES):
                    _say_start(procs)
            yield line.describe()

    try:
        for i, name in enumerate(PEER_NAMES):
            config = DemoPeerConfig(name=name, room=room, signal_url=server.url,
                                    token=make_join_token(secret, room, name, 600), avatar=str(chosen.avatars[i]),
                                    clip=None if chosen.clips[i] is None else str(chosen.clips[i]), seconds=seconds,
                                    start_ns=start_ns, out=str(work / name), width=size, height=size,
                                    cache_dir=str((cache_root or work) / name / "cache"),
                                    impair_loss=impairment[0] if impairment else 0.0,
                                    impair_jitter_ms=impairment[1] if impairment else 0.0, voice_path=voice_path,
                                    render="xr" if name == headset_peer else "headless")
            path = work / f"{name}.json"
            path.write_text(json.dumps(asdict(config)))
            (work / name).mkdir(exist_ok=True)
            logs.append(work / name / "stderr.log")
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            with logs[-1].open("w") as stderr:
                proc = subprocess.Popen([*peer_command, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=stderr, text=True, encoding="utf-8", errors="replace", env=env)
            procs.append(proc)
            pumps.append(threading.Thread(target=_pump, args=(proc, name, lines, arrived), daemon=True))
            pumps[-1].start()
        deadline_ns = clock.now_ns() + int((seconds + 180) * 1e9)
        while any(p.poll() is None for p in procs):
            clock.wait_ns(arrived, POLL_NS)
            arrived.clear()
            if any(p.poll() not in (None, 0) for p in procs):  # one failed: the other would wait for it in vain
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
            yield from drain()
            if clock.now_ns() > deadline_ns:
                raise DemoError("the participants did not finish in time; see out/peers/*/ for what they wrote")
        for pump in pumps:  # the processes have exited: their last lines are read once the pipes close
            pump.join(timeout=10)
        yield from drain()
        failures = [_failure(name, proc, failed.get(name), log_path)
                    for name, proc, log_path in zip(PEER_NAMES, procs, logs, strict=True) if proc.returncode != 0]
        if failures:
            raise DemoError(f"a participant failed ({'; '.join(failures)}); see out/peers/ for what they wrote")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        net.call(server.stop(), timeout=10)
        net.stop()
    yield from _write_results(out_dir, work, len(chosen.avatars), size, min(warmup_s, seconds / 2))


def _output_voice(peer_dir: Path, handoff_ns: list[int]) -> ReceivedVoice:
    """What a participant's virtual output played: 20 ms blocks and their hand-off times."""
    samples = np.load(peer_dir / "voice_output.npy")
    return ReceivedVoice([samples[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES] for i in range(len(handoff_ns))],
                         list(handoff_ns))


def _receiver_spans(remote: str, own: list[Span], sender: list[Span], offset_ns: float) -> list[Span]:
    """One receiver's spans, with its remote's frames followed from their capture: the sender's 'encode' and
    'send' spans mapped onto the receiver's clock (local = remote - offset) and tagged with the sender's name,
    and each 'receive' span begun at the sender's hand-off (the network leg; clock sync places it), so the
    stages of a displayed frame run back to back from its capture to its photon."""
    handed_off: dict[int, int] = {}
    out = []
    for span in sender:
        if span.name in ("encode", "send") and span.peer == "local" and span.frame is not None:
            mapped = Span(span.name, int(span.start_ns - offset_ns), int(span.end_ns - offset_ns), span.thread,
                          span.frame, remote)
            out.append(mapped)
            if span.name == "send":
                handed_off[span.frame] = mapped.end_ns
    for span in own:
        follows = span.name == "receive" and span.peer == remote
        left_ns = handed_off.get(span.frame) if follows and span.frame is not None else None
        if left_ns is not None and span.start_ns - 1_000_000_000 < left_ns <= span.start_ns:
            span = Span(span.name, left_ns, span.end_ns, span.thread, span.frame, span.peer)
        out.append(span)
    return out


DRIFT_WINDOW_S = 60.0
"""Mouth-to-ear drift compares the first and the last minute of a call (a quarter each of a shorter one)."""


def voice_delay_drift_ms(heard: Sequence[AudioPlayed]) -> float | None:
    """Median mouth-to-ear delay over the last window minus over the first (DRIFT_WINDOW_S, or a quarter of the
    call when shorter); None with fewer than 4 matched chunks in either window."""
    if not heard:
        return None
    ends = sorted(heard, key=lambda a: a.playout_ns)
    first, last = ends[0].playout_ns, ends[-1].playout_ns
    window = min(DRIFT_WINDOW_S * 1e9, (last - first) / 4)
    early = [a.playout_ns - a.capture_ns for a in ends if a.playout_ns <= first + window]
    late = [a.playout_ns - a.capture_ns for a in ends if a.playout_ns >= last - window]
    if len(early) < 4 or len(late) < 4:
        return None
    return float(np.median(late) - np.median(early)) / 1e6


def _voice_totals(records: dict[str, Any]) -> dict[str, float]:
    """Voice receive counters over every receiver: played, concealed (loss only) and its rate per second."""
    voices = [p["voice"] for r in records.values() for p in (*r["stats"]["peers"], *r["stats"]["departed"])
              if p.get("voice")]
    played = sum(v["played_ms"] for v in voices)
    concealed = sum(v["loss_concealed_ms"] for v in voices)
    return {"played_ms": round(played, 1), "loss_concealed_ms": round(concealed, 1),
            "loss_concealed_ms_per_s": round(concealed / (played / 1000.0), 3) if played > 0 else 0.0,
            "fec_recovered": sum(v["fec_recovered"] for v in voices), "lost": sum(v["lost"] for v in voices)}


def _write_results(out_dir: Path, work: Path, avatars: int, size: int, warmup_s: float) -> Iterator[str]:
    records = {name: json.loads((work / name / "records.json").read_text()) for name in PEER_NAMES}
    own_spans = {name: [Span(**s) for s in json.loads((work / name / "spans.json").read_text())]
                 for name in PEER_NAMES}
    frames: list[FramePresented] = []
    packets: list[PacketSent] = []
    audio: list[AudioPlayed] = []
    voice_mix: list[np.ndarray] = []
    spans: list[Span] = []
    stages_of_frames: list[FrameStages] = []
    joins: list[JoinTimes] = []
    correlations: dict[str, float] = {}
    drifts: dict[str, float] = {}
    windows: list[tuple[int, int]] = []
    for name, rec in records.items():
        remote = rec["remote"]
        # Each receiver's own settled window: from warmup_s after it began rendering to its end.
        lo, hi = rec["start_ns"] + int(warmup_s * 1e9), rec["end_ns"]
        windows.append((lo, hi))
        mine = [f for f in (FramePresented(**p) for p in rec["presented"]) if lo <= f.present_ns <= hi]
        frames += mine
        packets += [PacketSent(p["peer"], p["time_ns"], p["payload_bytes"], p["payload_bytes"]
                               + DATA_CHANNEL_OVERHEAD_BYTES) for p in rec["packets"] if lo <= p["time_ns"] <= hi]
        offset_ns = (rec["clock_offset_us"].get(remote) or 0.0) * 1000.0
        followed = _receiver_spans(remote, own_spans[name], own_spans[remote], offset_ns)
        stages_of_frames += frame_stages(followed, mine)
        # The trace: one process per participant, each span where it ran (the receive spans with their network leg).
        spans += [Span(s.name, s.start_ns, s.end_ns, s.thread, s.frame, name) for s in followed
                  if not (s.name in ("encode", "send") and s.peer == remote)]
        if rec.get("join"):
            joins.append(JoinTimes(**rec["join"]))
        sender = records[remote]
        handoff = rec["voice_output_handoff_ns"]
        if handoff and sender["voice_sent_start_ns"] is not None:
            received = _output_voice(work / name, handoff)
            sent = SentVoice([np.load(work / remote / "voice_sent.npy")], sender["voice_sent_start_ns"])
            voice_delay = mouth_to_ear_ns(received, sent, offset_ns)
            correlations[f"{remote}->{name}"] = round(voice_delay.correlation, 3)
            heard = [AudioPlayed(remote, int(h - d), int(h)) for h, d in
                     zip(voice_delay.handoff_ns.tolist(), voice_delay.delay_ns.tolist(), strict=True)
                     if lo <= h <= hi]
            audio += heard
            drift = voice_delay_drift_ms(heard)
            if drift is not None:
                drifts[f"{remote}->{name}"] = round(drift, 2)
            voice_mix.append(received.stream())
    # Rates are per receiving window: span the report over the mean window length.
    start_ns = min(lo for lo, _ in windows)
    end_ns = start_ns + int(np.mean([max(hi - lo, 0) for lo, hi in windows]))
    lost = sum(p["frames_lost"] for r in records.values() for p in (*r["stats"]["peers"], *r["stats"]["departed"]))
    report = build_report(spans=spans, frames=frames, audio=audio, packets=packets, start_ns=start_ns,
                          end_ns=end_ns, avatars=avatars,
                          frames_rendered=sum(r["frames_rendered"] for r in records.values()),
                          joins=joins, stages_of_frames=stages_of_frames,
                          extra={"frames_lost": lost, "warmup_s": warmup_s,
                                 "latency_window": "latencies and bitrates from warmup_s after each receiver began "
                                                   "rendering to its end; counts cover the call",
                                 "voice_match_correlation": correlations,
                                 "voice_delay_drift_ms": drifts,
                                 "voice": _voice_totals(records),
                                 "clock_offset_us": {n: r["clock_offset_us"] for n, r in records.items()},
                                 "rendered_fps": {n: round(r["frames_rendered"] / max((r["end_ns"] - r["start_ns"])
                                                                                     / 1e9, 1e-9), 2)
                                                  for n, r in records.items()},
                                 "video": {n: r.get("video") for n, r in records.items()},
                                 "mouth_to_ear_note": "to the hand-off of decoded voice to the output; "
                                                      "a sound device adds its own buffer on top"})
    profiler = Profiler(ProfilerOptions(enabled=True))
    for span in spans:
        profiler.add(span.name, span.start_ns, span.end_ns, frame=span.frame, peer=span.peer, thread=span.thread)
    trace = profiler.write_chrome_trace(out_dir / "trace.json")
    write_report_json(report, out_dir / "report.json")
    write_report_html(report, frames, out_dir / "report.html", title="codecav demo: two-party call")
    video = _side_by_side(out_dir / "demo.mp4", [work / n / "view.mp4" for n in PEER_NAMES], voice_mix, size)
    c2p, m2e = report.capture_to_photon_ms, report.mouth_to_ear_ms
    first = (f"first remote frame after {report.time_to_first_frame_s:.2f} s"
             if report.time_to_first_frame_s is not None else "no remote frame shown")
    yield (f"call: {' and '.join(PEER_NAMES)}, {report.frames_rendered} frames rendered, {lost} latent frames lost, "
           f"{first}")
    yield f"capture-to-photon: p50 {c2p.p50:.1f} ms, p99 {c2p.p99:.1f} ms"
    yield (f"mouth-to-ear: p50 {m2e.p50:.1f} ms, p99 {m2e.p99:.1f} ms" if m2e.count
           else "mouth-to-ear: not measured (" + ("no voice: the participants have no recorded clips)"
                                                 if not correlations else "no played voice matched the sent voice)"))
    yield (f"latent: {report.latent_kbps_per_avatar:.1f} kbit/s per avatar "
           f"({report.latent_wire_kbps_per_avatar:.1f} on the wire)")
    yield f"wrote {video}, {trace}, {out_dir / 'report.json'}, {out_dir / 'report.html'}"


def _side_by_side(path: Path, views: list[Path], voices: list[np.ndarray], size: int) -> Path:
    """Both participants' views next to each other, with both received voices mixed. Each view is real time at a
    constant rate (VideoRecorder puts every frame at its present time), so frame i of each is the same moment."""
    decoded = []
    rates = []
    for view in views:
        with av.open(str(view)) as container:
            stream = container.streams.video[0]
            rates.append(int(round(float(stream.average_rate or 30))))
            decoded.append([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    if len(set(rates)) > 1:
        raise DemoError(f"the participants' videos have different frame rates ({rates}); they cannot be joined")
    count, fps = min(len(d) for d in decoded), rates[0]
    with Mp4Writer(path, size * len(views), size, fps=fps, audio_rate=VOICE_RATE) as writer:
        for i in range(count):
            writer.write(np.concatenate([d[i] for d in decoded], axis=1))
        if voices:
            length = min(max(v.size for v in voices), int(count / fps * VOICE_RATE))
            mix = np.zeros(length, np.float32)
            for v in voices:
                mix[: min(length, v.size)] += v[:length]
            writer.add_audio(mix / max(1, len(voices)))
    return path
