"""One participant of `codecav demo`, run as its own process: `python -m codecav.runtime.demo_peer CONFIG.json`.

It joins the room, sends its avatar's codes (from its recorded clip, encoded live, or a synthetic source) and
its voice, renders the other participant's avatar headless at a fixed display rate into view.mp4, and writes
what the report needs into records.json (see `DemoPeerRecords`) and the profiler's spans into spans.json.
Progress goes to stdout one line at a time; errors print one line to stderr and exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codecav.clock import FrameClock
from codecav.encoders.base import LatentSource
from codecav.encoders.paced_source import PacedLatentSource
from codecav.errors import CodecavError
from codecav.latent import LatentFrame
from codecav.runtime.engine import Engine, NetworkThread, SenderWorker
from codecav.runtime.profiler import Profiler, ProfilerOptions
from codecav.runtime.scene import camera_views
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.runtime.video import Mp4Writer
from codecav.runtime.voice import VOICE_RATE, SentVoice, VirtualOutput, clip_feed
from codecav.xr.headless import HeadlessTarget


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


def run_peer(config: DemoPeerConfig) -> None:
    """The whole participant; raises CodecavError subclasses for the user's mistakes."""
    from codecav.encoders.synthetic_source import SyntheticLatentSource
    from codecav.net.avatar_exchange import OwnAvatar
    from codecav.net.call_session import CallSession
    from codecav.net.call_types import CallConfig
    from codecav.net.peer import PeerConfig
    from codecav.runtime.call_app import CallFeed

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    own = OwnAvatar.from_path(config.avatar)
    package = own.package
    sent_voice = SentVoice()
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
                   cache_dir=Path(config.cache_dir) if config.cache_dir else None),
        own, voice_track=track, receive_voice=True)
    output = VirtualOutput(session.voice_samples)
    profiler = Profiler(ProfilerOptions(enabled=True))
    net = NetworkThread()
    target = HeadlessTarget(camera_views(config.width, config.height, eye=(0.0, 0.0, 0.62), fovy_deg=30.0))
    renderer = SceneRenderer(target.ctx)
    sender: SenderWorker | None = None
    video = Mp4Writer(out / "view.mp4", config.width, config.height, fps=int(round(config.fps)))
    try:
        net.call(session.start(), timeout=30)
        print(f"joined {config.room} with avatar {package.manifest.avatar_id}; driving it from {source_note}",
              flush=True)
        net.call(session.wait_for_peers(1, timeout_s=90), timeout=100)
        (remote, _sha, remote_package), *_ = session.ready_peers()
        print(f"{remote} is here with avatar {remote_package.manifest.avatar_id} (verified); rendering it",
              flush=True)
        engine = Engine(target, renderer, profiler, clock=FrameClock(int(1e9 / config.fps)))
        engine.add_remote(remote, remote_package, np.eye(4, dtype=np.float32), CallFeed(session, remote))
        engine.on_presented = lambda _i: video.write(target.read_rgb())
        output.start()
        loop = net.loop

        def send(frame: LatentFrame) -> None:
            loop.call_soon_threadsafe(session.send, frame)

        sender = SenderWorker(open_latent(), send, profiler)
        sender.start()
        run = engine.run(seconds=config.seconds)
        stats = session.stats()
        timings = session.frame_timings()
    finally:
        output.stop()
        if sender is not None:
            sender.stop()
        try:
            net.call(session.stop(), timeout=10)
        finally:
            net.stop()
            video.close()
            renderer.release()
            target.close()
    for t in timings:
        profiler.add("receive", t.receive_us * 1000, t.wire_decoded_us * 1000, frame=t.sequence, thread="network")
    offsets = {p.peer: p.clock_offset_us for p in (*stats.peers, *stats.departed)}
    records = {
        "name": config.name,
        "remote": remote,
        "frames_rendered": run.frames_rendered,
        "start_ns": run.start_ns,
        "end_ns": run.end_ns,
        "presented": [asdict(p) for p in run.presented],
        "packets": [{"peer": t.peer, "time_ns": t.receive_us * 1000, "payload_bytes": t.wire_bytes,
                     "capture_local_us": t.capture_local_us} for t in timings],
        "clock_offset_us": offsets,
        "voice_sent_start_ns": sent_voice.start_ns,
        "voice_output_handoff_ns": output.taken.handoff_ns,
        "stats": asdict(stats),
    }
    np.save(out / "voice_sent.npy", sent_voice.stream())
    np.save(out / "voice_output.npy", output.taken.stream())
    (out / "records.json").write_text(json.dumps(records) + "\n")
    (out / "spans.json").write_text(json.dumps([asdict(s) for s in profiler.spans()]) + "\n")
    lost = sum(p.frames_lost for p in (*stats.peers, *stats.departed))
    print(f"done: {run.frames_rendered} frames rendered, {stats.frames_sent} sent, {lost} lost", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the participant process."""
    args = sys.argv[1:] if argv is None else argv
    try:
        config = DemoPeerConfig(**json.loads(Path(args[0]).read_text()))
        run_peer(config)
    except CodecavError as exc:
        print(f"codecav demo peer: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
