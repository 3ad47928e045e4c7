"""`codecav call`: join a call, send this peer's LatentFrames, render the others through the runtime Engine.

Threads as the Engine lays them out: the CallSession on a NetworkThread (asyncio), the source on a SenderWorker,
decoding and drawing on the caller's thread (which owns the GL context). `CallFeed` adapts the session's jitter
buffer to the Engine's RemoteFeed. Everything is ready before media flows: the source runs (models loaded) before
joining, and each remote is added and warmed up (`Engine.prepare`) before its first frame is pulled.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import threading
import wave
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.camera import View
from codecav.clock import MONOTONIC, Clock, FrameClock
from codecav.decoders.neural import DecoderModelError
from codecav.encoders.base import LatentSource
from codecav.encoders.synthetic_source import SyntheticLatentSource
from codecav.errors import CodecavError
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_base import CallBase
from codecav.net.call_session import CallSession
from codecav.net.call_types import CallConfig, FrameTiming
from codecav.net.peer import PeerConfig
from codecav.net.sfu.room_pin import sfu_room_pin
from codecav.net.sfu.session import SfuCallSession
from codecav.net.signaling.join_token import make_join_token
from codecav.net.voice import SAMPLE_RATE, MicrophoneFeed, VoiceTrack, read_wav_mono_48k, wav_feed
from codecav.net.voice_player import VoicePlayer
from codecav.runtime.engine import Engine, EngineRun, NetworkThread, ReceivedFrame, SenderWorker
from codecav.runtime.headset_call import HeadsetCall
from codecav.runtime.profiler import Profiler, ProfilerOptions
from codecav.runtime.render_command import CALL_FOVY_DEG, framed_row, row_views
from codecav.runtime.report import JoinTimes, PeerJoin, build_report, write_report_json
from codecav.runtime.scene import camera_views, room_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.runtime.thread_priority import lowered_current_thread, lowered_new_threads
from codecav.xr.base import RenderTarget
from codecav.xr.openxr.target import OpenXRTarget

TOKEN_TTL_S = 12 * 3600
"""Lifetime of a token made from --secret-file."""

SOURCE_READY_S = 30.0
"""How long the source may take to deliver its first frame (models loading, a camera starting)."""

RENDER_TARGETS = ("headless", "window", "xr")
"""What --render accepts."""

MAX_SHOWN = 5
"""Remote participants rendered (a mesh call's practical size; more join but are not drawn)."""

HEAD_POSES_KEPT = 20_000
"""Received head poses a CallFeed remembers for --out (about 11 minutes at 30 fps)."""


class CallRequestError(CodecavError):
    """`codecav call` was asked something it cannot do."""


@dataclass(frozen=True)
class CallRequest:
    """What `codecav call` was asked to do."""

    room: str
    """Room to join."""
    signal_url: str
    """Signaling server URL."""
    avatar: Path
    """This peer's avatar package."""
    source: str
    """Source spec: 'synthetic' or 'synthetic:SEED'."""
    token: str | None = None
    """Join token, or None to make one from `secret_file`."""
    secret_file: Path | None = None
    """The signaling server's secret (to make a token)."""
    peer_id: str | None = None
    """Peer id (default: a random one)."""
    render: str = "headless"
    """'headless', 'window' or 'xr' (an OpenXR headset; without one it says why and falls back)."""
    out: Path | None = None
    """Folder for call_stats.json and a last-frame PNG."""
    seconds: float | None = None
    """How long to stay (None: until the window closes or Ctrl-C)."""
    fps: float = 30.0
    """Source frame rate."""
    loopback: bool = False
    """Offer only 127.0.0.1 as ICE host candidate (both peers on this machine)."""
    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs."""
    size: tuple[int, int] = (640, 480)
    """View size."""
    display_hz: float = 60.0
    """Render pacing (a window's swap may pace it further)."""
    voice: str | None = None
    """Voice to send: a .wav path, 'mic' or 'mic:DEVICE'; None sends no voice."""
    play_voice: bool = False
    """Play the others' voices through the default audio output (PortAudio)."""
    sfu: bool = False
    """`signal_url` is a Janus HTTP API URL: join its VideoRoom `room` instead of a mesh (rooms beyond 6)."""
    host_addresses: tuple[str, ...] = ()
    """ICE host candidates to offer (e.g. 127.0.0.2 beside a Janus in a namespace); empty: aioice's choice."""


def open_source(spec: str, package: AvatarPackage, fps: float) -> LatentSource:
    """The LatentSource a --source spec names: 'synthetic[:SEED]', or registered encoder sources joined with
    '+' (e.g. 'clip:0', 'webcam', 'mic+webcam'), fused and encoded with the avatar's expression encoder."""
    kind, _, arg = spec.partition(":")
    if kind == "synthetic":
        try:
            seed = int(arg) if arg else 0
        except ValueError:
            raise CallRequestError(f"--source {spec!r}: the seed must be an integer, e.g. synthetic:3") from None
        return SyntheticLatentSource(package.manifest.latent, fps=fps, seed=seed)
    from codecav.encoders.paced_source import open_latent_source
    from codecav.encoders.sources import source_names

    unknown = [part for part in spec.split("+") if part.partition(":")[0] not in source_names()]
    if unknown:
        raise CallRequestError(f"--source {unknown[0]!r} is not known; use synthetic[:SEED] or one of "
                               f"{', '.join(source_names())} (joined with '+' to fuse)")
    return open_latent_source(spec.split("+"), package, fps)


def open_voice(spec: str | None) -> tuple[VoiceTrack | None, Callable[[], None]]:
    """The voice track a --voice spec names and a function releasing its device."""
    if spec is None or spec == "none":
        return None, lambda: None
    kind, _, device = spec.partition(":")
    if kind == "mic":
        mic = MicrophoneFeed(device or None)
        return VoiceTrack(mic), mic.close
    return VoiceTrack(wav_feed(read_wav_mono_48k(spec), loop=True)), lambda: None


class VoiceRecorder:
    """Pulls the mixed, face-aligned remote voice in real time on the render thread, for --out."""

    def __init__(self, session: CallBase[Any], *, clock: Clock = MONOTONIC) -> None:
        """Pull from `session`'s voice whatever became due on `clock` since the last poll."""
        self.session = session
        self._clock = clock
        self.blocks: list[np.ndarray] = []
        self._next_us: float | None = None

    def poll(self) -> None:
        """Take the samples due since the last poll."""
        now = float(self._clock.now_us())
        if self._next_us is None:
            self._next_us = now
            return
        n = int((now - self._next_us) * SAMPLE_RATE / 1e6)
        if n > 0:
            self.blocks.append(self.session.voice_samples(self._next_us, n))
            self._next_us += n * 1e6 / SAMPLE_RATE

    def write(self, path: Path) -> None:
        """Save what was pulled as 16-bit mono 48 kHz WAV."""
        pcm = np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())


@contextlib.contextmanager
def leave_on_signal() -> Iterator[threading.Event]:
    """While inside, Ctrl-C (SIGINT) or SIGTERM sets the event instead of killing the call, so that it leaves the
    room and writes its results; a second one interrupts at once. Only the main thread can take signals: elsewhere
    the event is never set."""
    leave = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield leave
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(signum: int, _frame: object) -> None:
        leave.set()
        for sig, handler in previous.items():  # the next one acts as it did before
            signal.signal(sig, handler)

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield leave
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def resolve_token(request: CallRequest, peer_id: str) -> str:
    """--token as given, or one made from --secret-file; CallRequestError if neither is usable."""
    if request.token:
        return request.token
    if request.secret_file is None:
        raise CallRequestError("give --token TOKEN or --secret-file FILE (the signaling server's secret)")
    return _from_secret(request.secret_file, lambda secret: make_join_token(secret, request.room, peer_id,
                                                                             TOKEN_TTL_S))


def resolve_sfu_pin(request: CallRequest) -> str:
    """The SFU room's PIN derived from --secret-file ('' without one); CallRequestError if it cannot be read."""
    if request.secret_file is None:
        return ""
    return _from_secret(request.secret_file, lambda secret: sfu_room_pin(secret, request.room))


def _from_secret(secret_file: Path, derive: Callable[[bytes], str]) -> str:
    """`derive` applied to the secret in `secret_file`; CallRequestError (one line) if it cannot be read or is
    refused (too short)."""
    try:
        secret = secret_file.read_bytes().strip()
    except OSError as exc:
        raise CallRequestError(f"cannot read --secret-file {secret_file} ({exc.strerror})") from None
    try:
        return derive(secret)
    except ValueError as exc:
        raise CallRequestError(f"--secret-file {secret_file}: {exc}") from None


class FrameTimingLog:
    """The session's per-frame timing records (which `frame_timings()` hands out once), kept for the feeds and
    the profiler: the newest `keep`, looked up by (peer, sequence). One per session, used on one thread."""

    def __init__(self, session: CallBase[Any], keep: int = 4096) -> None:
        self.session = session
        self.keep = keep
        """Most records kept (the oldest go first)."""
        self._by_frame: dict[tuple[str, int], FrameTiming] = {}

    def get(self, peer: str, sequence: int) -> FrameTiming | None:
        """The record of `peer`'s frame `sequence`, if it arrived (and is among the newest `keep`)."""
        key = (peer, sequence)
        if key not in self._by_frame:
            self._drain()
        return self._by_frame.get(key)

    def all(self) -> list[FrameTiming]:
        """Every record kept, oldest first."""
        self._drain()
        return list(self._by_frame.values())

    def _drain(self) -> None:
        for timing in self.session.frame_timings():
            self._by_frame[(timing.peer, timing.sequence)] = timing
        while len(self._by_frame) > self.keep:
            del self._by_frame[next(iter(self._by_frame))]


class CallFeed:
    """The Engine's RemoteFeed for one peer of a CallSession: the jitter buffer's sample at display time."""

    def __init__(self, session: CallBase[Any], peer: str, timings: FrameTimingLog | None = None) -> None:
        """`timings` (shared by the session's feeds) tells when the newest frame of each sample was captured and
        entered the buffer, for the 'hold' stage; without it a frame's hold counts from its arrival."""
        self.session = session
        self.peer = peer
        self.timings = timings
        self.head_poses: deque[tuple[int, list[float]]] = deque(maxlen=HEAD_POSES_KEPT)
        """(sequence, head orientation x, y, z, w) of each new frame handed out (for --out)."""

    def frame_for_display(self, display_ns: int, photon_lead_ns: int = 0) -> ReceivedFrame | None:
        """The interpolated (or held/decaying) frame for `display_ns`, seen `photon_lead_ns` later; None before the
        avatar is ready or before its first frame arrived (the engine keeps the neutral code)."""
        remote = self.session.remote_frame(self.peer, display_ns // 1000, photon_lead_ns // 1000)
        if remote is None or remote.sample.sequence < 0:
            return None
        s = remote.sample
        frame = LatentFrame(s.sequence, max(int(s.capture_time_us), 0), s.code, s.head_pose, s.gaze, s.flags)
        if not self.head_poses or self.head_poses[-1][0] != s.sequence:
            self.head_poses.append((s.sequence, [float(v) for v in s.head_pose.orientation]))
        timing = None if self.timings is None else self.timings.get(self.peer, s.sequence)
        if timing is None:
            return ReceivedFrame(self.peer, frame, int(s.capture_time_us * 1000), s.arrival_us * 1000)
        return ReceivedFrame(self.peer, frame, int(s.capture_time_us * 1000), timing.wire_decoded_us * 1000,
                             frame_capture_ns=int(timing.capture_local_us * 1000))


def open_call_target(render: str, views: list[View]) -> tuple[RenderTarget, str]:
    """The render target --render names and one line on what was opened; 'xr' falls back to a window or
    headless with the reason when no OpenXR runtime or headset answers (codecav.xr.select). Threads the GL
    driver starts meanwhile (llvmpipe's rasterisers) yield to the call's latency-critical ones
    (codecav.runtime.thread_priority)."""
    with lowered_new_threads():
        return _open_target(render, views)


def _open_target(render: str, views: list[View]) -> tuple[RenderTarget, str]:
    if render == "window":
        from codecav.xr.window import WindowTarget

        return WindowTarget(views, title="codecav call"), "rendering in a desktop window"
    if render == "headless":
        from codecav.xr.headless import HeadlessTarget

        return HeadlessTarget(views), "rendering headless (EGL)"
    if render == "xr":
        from codecav.xr.select import open_best_target

        return open_best_target(views, prefer_xr=True)
    raise CallRequestError(f"--render {render!r} is not known; use {', '.join(RENDER_TARGETS)}")


def run_call(request: CallRequest, *, clock: Clock = MONOTONIC,
             notify: Callable[[str], None] | None = None) -> Iterator[str]:
    """Join, send, render; yields progress lines. Writes call_stats.json (and last_frame.png) under --out.
    `clock` paces the render loop and the voice recording (an OpenXR headset paces itself on the real clock).
    Lines about what happens during the call (a remote leaving or back, the headset taken off, the session
    stopping) go to `notify` at once, or are yielded after the call without it."""
    peer_id = request.peer_id or f"peer-{secrets.token_hex(3)}"
    own = OwnAvatar.from_path(request.avatar)
    pending: list[str] = []
    say = notify or pending.append
    sfu_pin = resolve_sfu_pin(request) if request.sfu else ""
    if request.sfu and not sfu_pin:
        say(f"the SFU room {request.room} is open: anyone reaching the Janus API can join it (give --secret-file "
            "to lock it with a PIN only holders of the secret know)")
    config = CallConfig(room=request.room, peer_id=peer_id, signal_url=request.signal_url,
                        token="" if request.sfu else resolve_token(request, peer_id),
                        peer=PeerConfig(ice_servers=request.ice_servers, loopback_only=request.loopback,
                                        host_addresses=request.host_addresses), sfu_pin=sfu_pin)
    voice_track, release_voice = open_voice(request.voice)
    net = NetworkThread()
    receive_voice = request.play_voice or request.out is not None
    session: CallSession | SfuCallSession
    if request.sfu:
        session = SfuCallSession(config, own, voice_track=voice_track, receive_voice=receive_voice)
    else:
        session = CallSession(config, own, voice_track=voice_track, receive_voice=receive_voice)
    target: RenderTarget | None = None
    source: LatentSource | None = None
    sender: SenderWorker | None = None
    player: VoicePlayer | None = None
    headset: HeadsetCall | None = None  # under OpenXR
    recorder = VoiceRecorder(session, clock=clock) if request.out is not None else None
    width, height = request.size
    views, camera_distance = row_views(width, height, MAX_SHOWN)
    exits = contextlib.ExitStack()
    try:
        # Ready before media flows: the display and the source (its models loaded and run once) before joining;
        # each remote is added and warmed up before its first frame is pulled (add_ready_peers).
        target, target_note = open_call_target(request.render, views)
        if request.render != "headless":
            yield f"display: {target_note}"
        renderer = SceneRenderer(target.ctx)
        profiler = Profiler(ProfilerOptions(enabled=request.out is not None), clock=clock)
        headset = _headset_call(target, profiler, request)
        if headset is not None:
            # The runtime paces the loop (xrWaitFrame) and says when each frame is shown.
            engine = Engine(target, renderer, profiler)
            eye_w, eye_h = headset.target.eye_size()
            views = camera_views(eye_w, eye_h, stereo=True)
            source, source_note = headset.open_source(request.source, own.package, request.fps, open_source)
            yield f"headset: {source_note}"
            engine.on_presented = headset.on_presented
            headset.remote_heads = lambda: {i.peer: i.transform[:3, 3] for i in engine.scene.instances}
        else:
            # Paced on every other target: a window without vsync (Xvfb) would otherwise spin and starve the
            # network thread.
            engine = Engine(target, renderer, profiler, clock=FrameClock(int(1e9 / request.display_hz), clock))
            source = open_source(request.source, own.package, request.fps)
        loop = net.loop

        def send(frame: LatentFrame) -> None:
            loop.call_soon_threadsafe(session.send, frame)

        sender = SenderWorker(source, send, profiler)
        sender.start(sending=False)
        if not sender.wait_first_frame(SOURCE_READY_S):  # `sender.stop()` below re-raises what stopped it, if anything
            raise CallRequestError(f"--source {request.source!r} delivered no frame in {SOURCE_READY_S:g} s; "
                                   "check the device or file it reads")
        leave = exits.enter_context(leave_on_signal())  # from joining on, Ctrl-C leaves with the results
        join_start_ns = session.clock.now_ns()
        net.call(session.start(), timeout=30)
        sender.start_sending()
        yield f"joined room {request.room} as {peer_id} with avatar {own.package.manifest.avatar_id} " \
              f"({own.sha256[:12]}); peers already there: {', '.join(session.peers) or 'none'}"
        shown: dict[str, AvatarPackage] = {}
        feeds: dict[str, CallFeed] = {}
        timings = FrameTimingLog(session)
        present: set[str] = set(session.peers)
        left: set[str] = set()

        if request.play_voice:
            player = VoicePlayer(session.voice_samples)

        def lay_out() -> None:
            """Everyone shown, centred and as large as fits (headset: one across the table, or everyone around it)."""
            places = room_layout(len(shown)) if headset is not None else \
                framed_row(len(shown), camera_distance, CALL_FOVY_DEG, width / height)
            for place, remote in zip(places, shown, strict=True):
                engine.place_remote(remote, place)

        unshowable: set[str] = set()

        def note_unshowable(peer: str, exc: DecoderModelError) -> None:
            unshowable.add(peer)
            say(f"{peer}'s avatar cannot be shown ({exc.reason}): {exc}; the call and its voice go on")
            loop.call_soon_threadsafe(session.note_decoder_dropped, peer, exc.reason)

        def add_ready_peers() -> bool:
            if recorder is not None:
                recorder.poll()
            now_present = set(session.peers)
            for peer in sorted(present - now_present):
                say(f"{peer} left the call; the call goes on")
                left.add(peer)
                if peer in shown:  # its avatar leaves the room rather than staying frozen
                    engine.remove_remote(peer)
                    del shown[peer]  # its feed stays: what it showed goes into the results
                    lay_out()
            for peer in sorted(now_present - present):
                if peer in left:
                    say(f"{peer} is back in the call")
            present.clear()
            present.update(now_present)
            for peer, _sha, package in session.ready_peers():
                if peer not in shown and peer not in unshowable and len(shown) < MAX_SHOWN:
                    feeds.setdefault(peer, CallFeed(session, peer, timings))  # the same feed if it comes back
                    try:
                        engine.add_remote(peer, package, np.eye(4, dtype=np.float32), feeds[peer])  # lay_out places it
                        engine.prepare(views)
                    except DecoderModelError as exc:  # its model passed the checks and trial, yet fails here
                        engine.remove_remote(peer)
                        note_unshowable(peer, exc)
                        continue
                    shown[peer] = package
                    lay_out()
                    say(f"{peer} is here with avatar {package.manifest.avatar_id} (verified); showing it")
            for key, why in renderer.dropped().items():  # over its time budget or failing mid-call
                peer = key.removeprefix("remote:")
                if peer not in unshowable:
                    note_unshowable(peer, why)
            return headset is not None and headset.check(say)

        def keep_going_or_leave() -> bool:
            return leave.is_set() or add_ready_peers()

        with lowered_current_thread():  # the render loop yields to the network, capture and voice threads, all running
            run = engine.run(seconds=None if headset is not None else request.seconds,
                             should_stop=keep_going_or_leave)
        exits.close()  # signals act as before again
        if leave.is_set():
            say("leaving the call (interrupted); writing what it measured")
        if headset is not None:
            headset.check(say)  # the states that ended the loop (STOPPING ... EXITING), and why it left
        yield from pending
        pending.clear()
        elapsed = (run.end_ns - run.start_ns) / 1e9
        stats = net.call_in_loop(session.stats, timeout=10)
        yield f"rendered {run.frames_rendered} frames in {elapsed:.1f} s; sent {stats.frames_sent} frames"
        if headset is not None:
            yield headset.summary()
        for peer in (*stats.peers, *stats.departed):
            first = ""
            if peer.peer in shown:
                marks = engine.milestones(peer.peer)
                join = PeerJoin.of(JoinTimes.from_timeline(
                    peer.peer, join_start_ns, peer.join, prepare_ns=marks.prepared_ns,
                    first_decode_ns=marks.first_decode_ns, first_photon_ns=marks.first_photon_ns))
                if join.first_photon_s is not None:
                    first = f", first frame {join.first_photon_s:.2f} s after joining"
            yield (f"  {peer.peer}: avatar {peer.avatar}, {peer.frames_accepted} frames received, "
                   f"{peer.audio_frames_received} voice frames, "
                   f"{peer.frames_lost} lost, playout delay {peer.playout_delay_ms:.0f} ms, clock offset "
                   f"{(peer.clock_offset_us or 0) / 1000:.2f} ms (+- {(peer.clock_error_bound_us or 0) / 1000:.2f})"
                   f"{first}"
                   + (f"; it refused our avatar ({peer.our_avatar_refused}): it cannot see us"
                      if peer.our_avatar_refused else ""))
        if request.out is not None:
            request.out.mkdir(parents=True, exist_ok=True)
            path = request.out / "call_stats.json"
            path.write_text(json.dumps(asdict(stats), indent=2) + "\n")
            yield f"wrote {path}"
            yield from _write_call_results(request.out, run, profiler, feeds, len(shown), headset)
            if recorder is not None:
                voice_path = request.out / "voice_received.wav"
                recorder.write(voice_path)
                yield f"wrote {voice_path}"
            read_rgb = getattr(target, "read_rgb", None)
            if read_rgb is not None and headset is None:
                from PIL import Image

                image_path = request.out / "last_frame.png"
                Image.fromarray(read_rgb(0)).save(image_path)
                yield f"wrote {image_path}"
    finally:
        exits.close()
        if headset is not None:
            headset.close()
        if player is not None:
            player.close()
        if sender is not None:
            sender.stop()
        elif source is not None:
            source.close()
        release_voice()
        try:
            net.call(session.stop(), timeout=10)
        finally:
            net.stop()
            if target is not None:
                target.close()
    yield from pending


def _headset_call(target: RenderTarget, profiler: Profiler, request: CallRequest) -> HeadsetCall | None:
    """A HeadsetCall around `target` when it is an OpenXR headset, else None."""
    if not isinstance(target, OpenXRTarget):
        return None
    return HeadsetCall(target, profiler, seconds=request.seconds, snapshots=request.out is not None)


def _write_call_results(out: Path, run: EngineRun, profiler: Profiler, feeds: dict[str, CallFeed], avatars: int,
                        headset: HeadsetCall | None) -> Iterator[str]:
    """report.json (capture-to-photon: to the predicted display time under OpenXR, else to the present),
    trace.json, frames_presented.json (every remote frame per display), received_head_poses.json and, under
    OpenXR, xr_call.json and both eyes' last snapshot."""
    extra: dict[str, object] = {"photon": "present time of the frame showing it"}
    if headset is not None:
        stats = headset.target.timing_stats()
        extra = {"photon": "the OpenXR predicted display time of the frame showing it",
                 "xr_timing": asdict(stats),
                 "late_frame_indices": [f.index for f in headset.frames if f.late]}
    report = build_report(spans=profiler.spans(), frames=run.presented, audio=[], packets=[], start_ns=run.start_ns,
                          end_ns=run.end_ns, avatars=avatars, frames_rendered=run.frames_rendered, extra=extra)
    paths = [write_report_json(report, out / "report.json"), profiler.write_chrome_trace(out / "trace.json")]
    presented = out / "frames_presented.json"
    presented.write_text(json.dumps([asdict(f) for f in run.presented]) + "\n")
    paths.append(presented)
    poses = out / "received_head_poses.json"
    poses.write_text(json.dumps({peer: [[seq, *q] for seq, q in feed.head_poses] for peer, feed in feeds.items()})
                     + "\n")
    paths.append(poses)
    if headset is not None:
        paths += headset.write(out)
    yield f"wrote {', '.join(str(p) for p in paths)}"
