"""One participant of `codecav demo` (library part): joins the room, sends its avatar's codes (from its recorded
clip, encoded live, or a synthetic source) and its voice, renders the other participant's avatar headless at a
fixed display rate into view.mp4, and writes what the report needs into records.json and the profiler's spans
into spans.json.

`run_peer` reports progress through a callback of typed events (`PeerJoined`, `RemoteArrived`) and returns
`PeerDone`; `PeerFailed` carries a user error. The demo runs each participant as its own process through
`codecav.cli.demo_peer`, which writes these events as lines of JSON on stdout (`event_json`); the demo
(`codecav.runtime.call_demo`) reads them back with `parse_event`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from codecav.clock import MONOTONIC, Clock, FrameClock
from codecav.encoders.base import LatentSource
from codecav.encoders.paced_source import PacedLatentSource
from codecav.errors import CodecavError
from codecav.latent import LatentFrame
from codecav.runtime.engine import Engine, NetworkThread, SenderWorker
from codecav.runtime.headset_call import HeadsetCall
from codecav.runtime.profiler import Profiler, ProfilerOptions
from codecav.runtime.render_command import row_views
from codecav.runtime.report import JoinTimes, join_spans
from codecav.runtime.scene import camera_views, room_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.runtime.thread_priority import lowered_current_thread
from codecav.runtime.video import Mp4Writer, VideoRecorder
from codecav.runtime.voice import VOICE_RATE, SentVoice, VirtualOutput, clip_feed
from codecav.xr.base import EyeView
from codecav.xr.headset_sources import HeadTrackedSource
from codecav.xr.openxr.target import OpenXRTarget

log = logging.getLogger(__name__)

SOURCE_READY_S = 60.0
"""How long the driving source may take to deliver its first frame (its models loading on a busy machine)."""


class DemoPeerError(CodecavError):
    """A participant cannot start: its configuration file is missing or malformed."""


class DemoChannelError(CodecavError):
    """A line from a participant process is not one of its events; the message names what is wrong."""


@dataclass(frozen=True)
class DemoPeerConfig:
    """What the demo tells one participant process (JSON)."""

    name: str
    """Peer id, e.g. 'alice'."""
    room: str
    """Room to join."""
    signal_url: str
    """Signaling server URL."""
    token: str
    """Join token for (room, name)."""
    avatar: str
    """This participant's avatar package."""
    clip: str | None
    """Recorded driving clip directory (HMC + audio + gaze), or None for a synthetic source without voice."""
    seconds: float
    """How long to render once the other participant is there."""
    start_ns: int
    """Clip time 0 on the host's monotonic clock: face and voice both play the clip from this instant."""
    out: str
    """Folder for view.mp4, records.json, spans.json."""
    width: int = 320
    """View width."""
    height: int = 320
    """View height."""
    fps: float = 30.0
    """Source frame rate and display rate."""
    cache_dir: str | None = None
    """Avatar cache (None: the default)."""
    impair_loss: float = 0.0
    """Share of this participant's outgoing datagrams dropped (user-space impairment; 0: none)."""
    impair_jitter_ms: float = 0.0
    """Their delay varies uniformly in 0..2 x this (mean this), so they arrive jittered and reordered."""
    voice_path: str = "codecav"
    """How received voice is played (CallConfig.voice_path): 'codecav', or 'aiortc' as the baseline."""
    render: str = "headless"
    """'headless', or 'xr': this participant's call runs in the OpenXR headset (its head drives its avatar);
    without a runtime it logs why and renders headless."""


def load_config(path: Path) -> DemoPeerConfig:
    """Read a participant's configuration (JSON of `DemoPeerConfig`); DemoPeerError naming the problem."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DemoPeerError(f"cannot read the participant configuration {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DemoPeerError(f"{path} is not JSON ({exc.msg} at line {exc.lineno}); pass a DemoPeerConfig") from None
    if not isinstance(data, dict):
        raise DemoPeerError(f"{path} holds a JSON {type(data).__name__}, not an object of DemoPeerConfig fields")
    try:
        return DemoPeerConfig(**data)
    except TypeError as exc:
        raise DemoPeerError(f"{path}: {exc}; the fields are those of DemoPeerConfig") from None


@dataclass(frozen=True)
class PeerJoined:
    """The participant joined the room and drives its avatar."""

    type: ClassVar[str] = "joined"
    room: str
    """The room it joined."""
    avatar_id: str
    """Its own avatar's id."""
    source: str
    """Where its codes come from, e.g. 'clip 0 (HMC + audio + gaze encoded live)'."""

    def describe(self) -> str:
        """One progress line."""
        return f"joined {self.room} with avatar {self.avatar_id}; driving it from {self.source}"


@dataclass(frozen=True)
class RemoteArrived:
    """The other participant is in the room and its avatar package was fetched and verified."""

    type: ClassVar[str] = "remote"
    remote: str
    """The other participant's peer id."""
    avatar_id: str
    """The other participant's avatar id."""

    def describe(self) -> str:
        """One progress line."""
        return f"{self.remote} is here with avatar {self.avatar_id} (verified); rendering it"


@dataclass(frozen=True)
class PeerDone:
    """The participant finished and wrote its records."""

    type: ClassVar[str] = "done"
    frames_rendered: int
    """Frames of the other's avatar it rendered."""
    frames_sent: int
    """Latent frames it sent."""
    frames_lost: int
    """Latent frames of the other's that never arrived."""

    def describe(self) -> str:
        """One progress line."""
        return f"done: {self.frames_rendered} frames rendered, {self.frames_sent} sent, {self.frames_lost} lost"


@dataclass(frozen=True)
class PeerFailed:
    """The participant stopped on a user error (a CodecavError)."""

    type: ClassVar[str] = "failed"
    message: str
    """The error's one-line message."""

    def describe(self) -> str:
        """One progress line."""
        return f"failed: {self.message}"


DemoPeerEvent = PeerJoined | RemoteArrived | PeerDone | PeerFailed
"""What a participant reports, in this order: joined, remote, done (or failed at any point)."""

EVENT_TYPES: dict[str, type[DemoPeerEvent]] = {cls.type: cls for cls in (PeerJoined, RemoteArrived, PeerDone,
                                                                          PeerFailed)}
"""Event class by its `type` key."""

_JSON_TYPES: dict[str, type] = {"str": str, "int": int}


def event_json(event: DemoPeerEvent) -> str:
    """One line of JSON: an object with the event's `type` and its fields (no newline)."""
    return json.dumps({"type": event.type, **asdict(event)}, separators=(",", ":"))


def parse_event(line: str) -> DemoPeerEvent:
    """The event one line of JSON holds (see `event_json`); DemoChannelError naming what is wrong otherwise."""
    shown = line.strip()
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise DemoChannelError(f"not JSON: {shown!r}") from None
    if not isinstance(data, dict):
        raise DemoChannelError(f"not a JSON object: {shown!r}")
    kind = data.pop("type", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DemoChannelError(f"unknown event type {kind!r} (known: {', '.join(EVENT_TYPES)}): {shown!r}")
    expected = {f.name: f.type for f in fields(cls)}
    if set(data) != set(expected):
        raise DemoChannelError(f"{kind} event has fields {sorted(data)}, expected {sorted(expected)}")
    for name, annotation in expected.items():
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, _JSON_TYPES.get(str(annotation), object)):
            raise DemoChannelError(f"{kind} event field {name!r} is {value!r}, expected {annotation}")
    return cls(**data)


def fit_rgb(raw: bytes, width: int, height: int, out_width: int, out_height: int) -> bytes:
    """RGB rows `width` x `height` centred on a black `out_width` x `out_height` frame (cropped where larger)."""
    image = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    out = np.zeros((out_height, out_width, 3), np.uint8)
    h, w = min(height, out_height), min(width, out_width)
    y0, x0 = (height - h) // 2, (width - w) // 2
    oy, ox = (out_height - h) // 2, (out_width - w) // 2
    out[oy:oy + h, ox:ox + w] = image[y0:y0 + h, x0:x0 + w]
    return out.tobytes()


def open_clip_source(clip_dir: Path, package: Any, start_ns: int) -> tuple[Callable[[], LatentSource], np.ndarray]:
    """(a function opening the paced latent source, voice samples at VOICE_RATE trimmed to the clip's length).
    Open the source when sending starts: it catches up with the clip's clock when opened."""
    from codecav.encoders.clip import load_clip
    from codecav.encoders.expression import ExpressionEncoder
    from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig

    clip = load_clip(clip_dir)
    encoder = ExpressionEncoder.from_package(package)

    def open_inner() -> LatentSource:
        return ExpressionLatentSource(clip.sources(), encoder, LatentSourceConfig(fps=clip.fps, realtime=False))

    from codecav.net.voice import read_wav_mono_48k

    voice = read_wav_mono_48k(clip.audio_path)
    length = int(round(clip.frames / clip.fps * VOICE_RATE))  # voice loops with the face
    voice = np.pad(voice, (0, max(0, length - voice.size)))[:length]
    return (lambda: PacedLatentSource(open_inner, clip.fps, start_ns)), voice


def run_peer(config: DemoPeerConfig, on_event: Callable[[DemoPeerEvent], None] | None = None, *,
             wait_start: Callable[[], None] | None = None, clock: Clock = MONOTONIC) -> PeerDone:
    """The whole participant: reports `PeerJoined` and `RemoteArrived` to `on_event` and returns `PeerDone`;
    raises CodecavError subclasses for the user's mistakes. Everything is ready before media flows: the source
    runs (its models loaded, frames read and dropped) from before joining, and the remote's avatar is added and
    warmed up (decoder session, GL programs, one offscreen decode and draw) before `RemoteArrived`. Then
    `wait_start` (if given) blocks until every participant is ready, so all talk for the same `config.seconds`
    and none leaves while another is still fetching its avatar. `clock` paces the display and times the
    profiler (the clip's `start_ns` is on the host's monotonic clock, shared with the other participant)."""
    from codecav.encoders.synthetic_source import SyntheticLatentSource
    from codecav.net.avatar_exchange import OwnAvatar
    from codecav.net.call_session import CallSession
    from codecav.net.call_types import CallConfig, JoinTimeline
    from codecav.net.impairment import Impairment
    from codecav.net.peer import PeerConfig
    from codecav.runtime.call_app import CallFeed, FrameTimingLog, open_call_target

    report = on_event or (lambda _event: None)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    own = OwnAvatar.from_path(config.avatar)
    package = own.package
    for stale in ("voice_sent.f32", "voice_output.f32"):  # a run that was killed may have left them
        (out / stale).unlink(missing_ok=True)
    sent_voice = SentVoice(spill=out / "voice_sent.f32")  # on disk as it goes: memory stays flat in long calls
    voice: np.ndarray | None = None
    if config.clip is not None:
        open_latent, voice = open_clip_source(Path(config.clip), package, config.start_ns)
        source_note = f"clip {Path(config.clip).name} (HMC + audio + gaze encoded live)"
    else:
        def open_latent() -> LatentSource:
            return SyntheticLatentSource(package.manifest.latent, fps=config.fps, seed=len(config.name))

        source_note = "synthetic codes, no voice"
    from codecav.net.voice import VoiceTrack

    track = VoiceTrack(clip_feed(voice, config.start_ns, sent_voice)) if voice is not None else None
    session = CallSession(
        CallConfig(room=config.room, peer_id=config.name, signal_url=config.signal_url, token=config.token,
                   peer=PeerConfig(loopback_only=True),
                   cache_dir=Path(config.cache_dir) if config.cache_dir else None, voice_path=config.voice_path,
                   impairment=Impairment(config.impair_loss, config.impair_jitter_ms, config.impair_jitter_ms,
                                         seed=len(config.name))
                   if config.impair_loss > 0 or config.impair_jitter_ms > 0 else None),
        own, voice_track=track, receive_voice=True)
    output = VirtualOutput(session.voice_samples, spill=out / "voice_output.f32")
    profiler = Profiler(ProfilerOptions(enabled=True), clock=clock)
    net = NetworkThread()
    # Framed as `codecav call` frames a lone remote: centred, the head about half the view's height.
    views, _ = row_views(config.width, config.height, 1)
    target, display_note = open_call_target(config.render, views)
    if config.render != "headless":
        log.info("%s display: %s", config.name, display_note)
    renderer = SceneRenderer(target.ctx)
    headset: HeadsetCall | None = None
    placement = np.eye(4, dtype=np.float32)
    if isinstance(target, OpenXRTarget):
        # The runtime paces the loop; the remote sits across the table; the headset's head pose is sent.
        headset = HeadsetCall(target, profiler, seconds=config.seconds, clock=clock)
        engine = Engine(target, renderer, profiler)
        views = camera_views(*target.eye_size(), stereo=True)
        placement = room_layout(1)[0]
    else:
        engine = Engine(target, renderer, profiler, clock=FrameClock(int(1e9 / config.fps), clock))
    timings = FrameTimingLog(session)
    sender: SenderWorker | None = None
    recorder = VideoRecorder(Mp4Writer(out / "view.mp4", config.width, config.height, fps=int(round(config.fps)),
                                       preset="ultrafast", threads=1))
    loop = net.loop
    end_ns: int | None = None

    def send(frame: LatentFrame) -> None:
        loop.call_soon_threadsafe(session.send, frame)

    try:
        # The source runs from now on, sending nothing until `start`: its models load and run while the call is
        # set up, and the clip's clock is kept, so sending starts with neither a stall nor a catch-up burst.
        source = open_latent()
        if headset is not None:
            source = headset.source = HeadTrackedSource(source, headset.tracking)
            source_note += "; head pose from the headset"
        sender = SenderWorker(source, send, profiler)
        sender.start(sending=False)
        join_start_ns = session.clock.now_ns()
        net.call(session.start(), timeout=30)
        report(PeerJoined(config.room, package.manifest.avatar_id, source_note))
        net.call(session.wait_for_peers(1, timeout_s=90), timeout=100)
        (remote, _sha, remote_package), *_ = session.ready_peers()
        engine.add_remote(remote, remote_package, placement, CallFeed(session, remote, timings))
        engine.prepare(views)
        if not sender.wait_first_frame(SOURCE_READY_S):
            raise DemoPeerError(f"the driving source ({source_note}) delivered no frame in {SOURCE_READY_S:g} s")
        report(RemoteArrived(remote, remote_package.manifest.avatar_id))
        if wait_start is not None:
            wait_start()  # the network thread keeps serving our avatar to the others meanwhile

        def record(_index: int) -> None:
            # Only the read-back stays on the render thread; the recorder's worker flips, converts and encodes.
            recorder.grab(lambda: engine.eyes[0].framebuffer.read(components=3, alignment=1), engine.presented_ns)

        def record_eye(eyes: list[EyeView]) -> None:
            # The headset's left eye, read before its image goes back to the runtime, fitted to the video's size.
            view = eyes[0].view
            recorder.grab(lambda: fit_rgb(eyes[0].framebuffer.read(components=3, alignment=1), view.width,
                                          view.height, config.width, config.height), target.display_time_ns() or 0)

        if headset is not None:
            headset.target.before_present = record_eye
            engine.on_presented = headset.on_presented
        else:
            engine.on_presented = record
        output.start()
        sender.start_sending()
        recorder.begin(engine.time_source.now_ns())
        with lowered_current_thread():  # the render loop yields to the network, capture and voice threads, all running
            if headset is not None:
                run = engine.run(should_stop=lambda: headset.check(log.info))
                headset.check(log.info)
            else:
                run = engine.run(seconds=config.seconds)
        end_ns = run.end_ns
        stats = net.call_in_loop(session.stats, timeout=10)
    finally:
        output.stop()
        if sender is not None:
            sender.stop()
        try:
            net.call(session.stop(), timeout=10)
        finally:
            net.stop()
            video = recorder.close(end_ns)
            if headset is not None:
                headset.close()
            renderer.release()
            target.close()
    received = timings.all()
    for t in received:
        profiler.add("receive", t.receive_us * 1000, t.wire_decoded_us * 1000, frame=t.sequence, peer=t.peer,
                     thread="network")
    remote_stats = {p.peer: p for p in (*stats.peers, *stats.departed)}
    marks = engine.milestones(remote)
    join = JoinTimes.from_timeline(remote, join_start_ns, remote_stats[remote].join if remote in remote_stats
                                   else JoinTimeline(), prepare_ns=marks.prepared_ns,
                                   first_decode_ns=marks.first_decode_ns, first_photon_ns=marks.first_photon_ns,
                                   viewer=config.name)
    for span in join_spans(join):
        profiler.add(span.name, span.start_ns, span.end_ns, peer=span.peer, thread=span.thread)
    offsets = {p.peer: p.clock_offset_us for p in (*stats.peers, *stats.departed)}
    records = {
        "name": config.name,
        "remote": remote,
        "frames_rendered": run.frames_rendered,
        "start_ns": run.start_ns,
        "end_ns": run.end_ns,
        "presented": [asdict(p) for p in run.presented],
        "packets": [{"peer": t.peer, "time_ns": t.receive_us * 1000, "payload_bytes": t.wire_bytes,
                     "capture_local_us": t.capture_local_us} for t in received],
        "clock_offset_us": offsets,
        "voice_sent_start_ns": sent_voice.start_ns,
        "voice_output_handoff_ns": output.taken.handoff_ns,
        "join": asdict(join),
        "video": asdict(video),
        "frames_skipped_before_start": sender.frames_skipped if sender is not None else 0,
        "stats": asdict(stats),
    }
    np.save(out / "voice_sent.npy", sent_voice.stream())
    np.save(out / "voice_output.npy", output.taken.stream())
    for spilled in (sent_voice.spill, output.taken.spill):
        if spilled is not None:
            spilled.unlink(missing_ok=True)
    (out / "records.json").write_text(json.dumps(records) + "\n")
    (out / "spans.json").write_text(json.dumps([asdict(s) for s in profiler.spans()]) + "\n")
    lost = sum(p.frames_lost for p in (*stats.peers, *stats.departed))
    log.info("%s wrote %s", config.name, out)
    return PeerDone(run.frames_rendered, stats.frames_sent, lost)
