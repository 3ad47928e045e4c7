"""`codecav profile SCENARIO --out DIR`: run a scenario with the profiler on and write trace.json,
report.json and report.html.

Scenarios: 'local' — N senders in this process, each an animated latent source whose frames go through the
real wire format (encode, bytes, decode) to the engine, which decodes and renders every avatar headless. It
measures the client pipeline without a network; `codecav demo` measures a two-process WebRTC call.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

from codecav.assets.package import AvatarPackage
from codecav.clock import MONOTONIC, Clock, FrameClock
from codecav.encoders.animated_source import AnimatedCodeSource
from codecav.errors import CodecavError
from codecav.latent import LatentFrame
from codecav.net.receiver import LatentFrameReceiver
from codecav.net.wire.frames import encode_latent_frame
from codecav.runtime.engine import Engine, EngineRun, LatestFeed, ReceivedFrame, SenderWorker
from codecav.runtime.profiler import Profiler, ProfilerOptions, Span
from codecav.runtime.render_command import (
    HEAD_SPACING_M,
    random_codes,
    row_views,
    sample_avatars,
)
from codecav.runtime.report import (
    DATA_CHANNEL_OVERHEAD_BYTES,
    LatencyReport,
    PacketSent,
    build_report,
    write_report_json,
)
from codecav.runtime.report_html import write_report_html
from codecav.runtime.scene import row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.headless import HeadlessTarget

SCENARIOS = ("local",)
"""Scenario names `codecav profile` accepts."""


class ProfileError(CodecavError):
    """A profile run cannot be carried out as asked."""


@dataclass(frozen=True)
class ProfileRequest:
    """What `codecav profile` was asked to do."""

    scenario: str
    """One of SCENARIOS."""
    out: Path
    """Folder for trace.json, report.json, report.html."""
    seconds: float = 5.0
    """How long to measure."""
    avatars: int = 3
    """Remote avatars (senders)."""
    fps: float = 30.0
    """Sender frame rate."""
    width: int = 640
    """View width."""
    height: int = 480
    """View height."""
    display_hz: float = 72.0
    """Display rate the render loop is paced at (Quest 2's default; headless has no vsync of its own)."""


def _loopback_send(peer: str, package: AvatarPackage, feed: LatestFeed, profiler: Profiler,
                   packets: list[PacketSent], clock: Clock) -> Callable[[LatentFrame], int]:
    """A send function that takes a frame through the wire format into `feed`, as a network would, stamping
    send and arrival times on `clock`. The frame leaves the sender once serialized (returned, ending the 'send'
    span); 'receive' runs from then until it is parsed and in the feed."""
    layout = package.manifest.latent
    receiver = LatentFrameReceiver(layout)

    def send(frame: LatentFrame) -> int:
        data = encode_latent_frame(frame, layout)
        left_ns = clock.now_ns()
        packets.append(PacketSent(peer, left_ns, len(data), len(data) + DATA_CHANNEL_OVERHEAD_BYTES))
        decoded = receiver.receive(data)
        arrived_ns = clock.now_ns()
        profiler.add("receive", left_ns, arrived_ns, frame=frame.sequence, peer=peer)
        if decoded is not None:
            feed.push(ReceivedFrame(peer, decoded, decoded.capture_time_us * 1000, arrived_ns))
        return left_ns

    return send


@dataclass(frozen=True)
class ProfileResult:
    """What a profile run measured (the generator's return value), beside the files it wrote."""

    report: LatencyReport
    """The report written to report.json."""
    run: EngineRun
    """The render loop's records (frames presented)."""
    spans: list[Span]
    """Every profiler span."""


def run_profile(request: ProfileRequest, *, clock: Clock = MONOTONIC) -> Generator[str, None, ProfileResult]:
    """Run the scenario, yielding progress lines; the last ones name the files written; returns what it
    measured. `clock` paces and times everything (sources, wire, render loop, profiler)."""
    if request.scenario not in SCENARIOS:
        raise ProfileError(f"unknown scenario {request.scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if not 1 <= request.avatars <= 16:
        raise ProfileError(f"--avatars {request.avatars} is out of range; use 1..16")
    packages = sample_avatars(request.avatars)
    profiler = Profiler(ProfilerOptions(enabled=True), clock=clock)
    views, _ = row_views(request.width, request.height, request.avatars)
    target = HeadlessTarget(views)
    renderer = SceneRenderer(target.ctx)
    engine = Engine(target, renderer, profiler, clock=FrameClock(int(1e9 / request.display_hz), clock))
    packets: list[PacketSent] = []
    workers = []
    for i, (package, transform) in enumerate(zip(packages, row_layout(request.avatars, HEAD_SPACING_M), strict=True)):
        peer = f"peer{i}"
        feed = LatestFeed()
        engine.add_remote(peer, package, transform, feed)
        source = AnimatedCodeSource(random_codes(package, 4, seed=200 + i), fps=request.fps, clock=clock)
        workers.append(SenderWorker(source, _loopback_send(peer, package, feed, profiler, packets, clock), profiler,
                                    name=f"encoder-{peer}", peer=peer))
    engine.prepare(views)  # decoder sessions, GL programs and one decode + draw before the first frame
    yield (f"codecav profile {request.scenario}: {request.avatars} avatar(s) at {request.fps:g} fps, "
           f"{request.width}x{request.height}, {request.seconds:g} s on {target.ctx.info['GL_RENDERER']}")
    for worker in workers:
        worker.start()
    try:
        run = engine.run(seconds=request.seconds)
    finally:
        for worker in workers:
            worker.stop()
        renderer.release()
        target.close()
    report = build_report(spans=profiler.spans(), frames=run.presented, audio=[], packets=packets,
                          start_ns=run.start_ns, end_ns=run.end_ns, avatars=request.avatars,
                          frames_rendered=run.frames_rendered,
                          extra={"scenario": request.scenario, "sender_fps": request.fps,
                                 "stale_frames_dropped": sum(w.frames_sent for w in workers) - len(
                                     {(f.peer, f.frame) for f in run.presented}),
                                 "mouth_to_ear": "no voice in the local scenario (see codecav demo)"})
    out = request.out
    trace = profiler.write_chrome_trace(out / "trace.json")
    write_report_json(report, out / "report.json")
    write_report_html(report, run.presented, out / "report.html", title=f"codecav profile {request.scenario}")
    c2p = report.capture_to_photon_ms
    yield (f"  {run.frames_rendered} frames rendered ({run.frames_rendered / report.duration_s:.1f} fps, "
           f"paced at {request.display_hz:g} Hz); "
           f"capture-to-photon p50 {c2p.p50:.1f} ms, p99 {c2p.p99:.1f} ms; "
           f"latent {report.latent_kbps_per_avatar:.1f} kbit/s per avatar")
    yield f"wrote {trace}, {out / 'report.json'}, {out / 'report.html'}"
    return ProfileResult(report, run, profiler.spans())
