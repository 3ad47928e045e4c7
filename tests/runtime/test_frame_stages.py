"""Honest profiling: the stages of a displayed frame (encode, send, receive, hold, decode, render, present) add up
to its capture-to-photon, on fake time exactly and in a real profiled local run within a small tolerance; how
joining each remote went reaches the trace, report.json and report.html."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import TypeVar

import moderngl
import numpy as np
import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.clock import FakeClock, FrameClock
from codecav.decoders.base import DecodedFrame
from codecav.decoders.neural import OnnxNeuralDecoder
from codecav.latent import LatentFrame
from codecav.net.call_types import JoinTimeline
from codecav.runtime.engine import Engine, ReceivedFrame
from codecav.runtime.profile_command import ProfileRequest, ProfileResult, run_profile
from codecav.runtime.profiler import Profiler, ProfilerOptions, Span
from codecav.runtime.report import (
    FRAME_STAGES,
    FramePresented,
    JoinTimes,
    PeerJoin,
    build_report,
    first_presents,
    frame_stages,
    join_spans,
    report_to_json,
)
from codecav.runtime.report_html import report_html
from codecav.runtime.scene import camera_views, row_layout
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.xr.headless import HeadlessTarget

MS = 1_000_000
T = TypeVar("T")


class _ScriptedFeed:
    """Hands the engine one scripted frame (or None) per display."""

    def __init__(self, script: list[ReceivedFrame | None]) -> None:
        self.script = list(script)
        self.photon_leads_ns: list[int] = []

    def frame_for_display(self, display_ns: int, photon_lead_ns: int = 0) -> ReceivedFrame | None:
        self.photon_leads_ns.append(photon_lead_ns)
        return self.script.pop(0) if self.script else None


class _TimedPresentTarget(HeadlessTarget):
    """A headless target whose present takes `present_ms` of fake time."""

    def __init__(self, clock: FakeClock, present_ms: float, ctx: moderngl.Context) -> None:
        super().__init__(camera_views(32, 24, eye=(0.0, 0.0, 0.8)), ctx=ctx)
        self.clock = clock
        self.present_ms = present_ms

    def present(self) -> None:
        self.clock.advance(int(self.present_ms * MS))
        super().present()


def _sent(profiler: Profiler, peer: str, frame: int, capture_ns: int, arrived_ns: int) -> None:
    """The sender's and the network's spans of one frame: encode 5 ms, send 1 ms, receive until it arrived."""
    profiler.add("encode", capture_ns, capture_ns + 5 * MS, frame=frame, peer=peer)
    profiler.add("send", capture_ns + 5 * MS, capture_ns + 6 * MS, frame=frame, peer=peer)
    profiler.add("receive", capture_ns + 6 * MS, arrived_ns, frame=frame, peer=peer)


@pytest.mark.gl
def test_hold_is_what_the_buffer_adds_and_the_stages_add_up_exactly_on_fake_time(
        gl_ctx: moderngl.Context, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClock(1_000 * MS)
    decode = OnnxNeuralDecoder.decode

    def timed_decode(self: OnnxNeuralDecoder, latent: np.ndarray, view_dir: np.ndarray) -> DecodedFrame:
        fake.advance(7 * MS)
        return decode(self, latent, view_dir)

    monkeypatch.setattr(OnnxNeuralDecoder, "decode", timed_decode)
    package = build_synthetic_avatar(seed=4)
    profiler = Profiler(ProfilerOptions(enabled=True), clock=fake)
    renderer = SceneRenderer(gl_ctx)
    target = _TimedPresentTarget(fake, 5.0, gl_ctx)
    engine = Engine(target, renderer, profiler, clock=FrameClock(33 * MS, fake))
    code = np.zeros(package.manifest.latent.dim, np.float32)
    feed = _ScriptedFeed([])
    engine.add_remote("bob", package, row_layout(1)[0], feed)
    engine.prepare(camera_views(32, 24))  # one (7 ms) decode
    t0 = fake.now_ns()
    t2 = t0 + 66 * MS  # displays 0 and 2 (33 ms apart)
    # Display 0: frame 5 interpolated; the instant shown (P) is 80 ms back, frame 5 itself was captured 60 ms back
    # and arrived 20 ms back: of the 80 ms playout delay its trip took 40, it waited 40.
    interpolated = ReceivedFrame("bob", LatentFrame(5, 0, code), capture_ns=t0 - 80 * MS, received_ns=t0 - 20 * MS,
                                 frame_capture_ns=t0 - 60 * MS)
    # Display 2: frame 6 shown as captured (no interpolation), 50 ms back; it arrived 10 ms back and waited 10.
    plain = ReceivedFrame("bob", LatentFrame(6, 0, code), capture_ns=t2 - 50 * MS, received_ns=t2 - 10 * MS)
    _sent(profiler, "bob", 5, t0 - 60 * MS, t0 - 20 * MS)
    _sent(profiler, "bob", 6, t2 - 50 * MS, t2 - 10 * MS)
    feed.script = [interpolated, interpolated, plain]
    run = engine.run(frames=3)
    holds = {s.frame: (s.start_ns, s.end_ns) for s in profiler.spans() if s.name == "hold"}
    assert holds == {5: (t0 - 40 * MS, t0), 6: (t2 - 10 * MS, t2)}, "one hold per frame, at its first display"
    stages = frame_stages(profiler.spans(), run.presented)
    assert [(f.peer, f.frame) for f in stages] == [("bob", 5), ("bob", 6)]
    for f in stages:
        assert list(f.stages_ms) == list(FRAME_STAGES)
        assert f.stages_ms["decode"] == 7.0 and f.stages_ms["present"] == 5.0
        assert f.unaccounted_ms == pytest.approx(0.0, abs=1e-9)
    assert stages[0].capture_to_photon_ms == 80 + 7 + 5 and stages[0].stages_ms["hold"] == 40.0
    assert stages[1].capture_to_photon_ms == 50 + 7 + 5 and stages[1].stages_ms["receive"] == 50 - 10 - 6
    marks = engine.milestones("bob")
    assert marks.prepared_ns == t0 == 1_007 * MS and marks.first_frame == 5
    assert (marks.first_decode_ns, marks.first_photon_ns) == (t0 + 7 * MS, t0 + 12 * MS)
    # Each display after the first is told how long after its display time its frame reaches the eye (lip-sync).
    assert feed.photon_leads_ns == [0, 12 * MS, 12 * MS]
    renderer.release()
    target.close()


def _finish(gen: Generator[str, None, T]) -> T:
    """Run a generator to its end and return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@pytest.mark.gl
def test_in_a_profiled_local_run_each_displayed_frames_stages_add_up_to_its_capture_to_photon(
        tmp_path: Path) -> None:
    result: ProfileResult = _finish(run_profile(ProfileRequest("local", tmp_path, seconds=2.0, avatars=1,
                                                               width=96, height=72)))
    displayed = first_presents(result.run.presented)
    stages = frame_stages(result.spans, result.run.presented)
    assert len(displayed) > 20 and len(stages) >= len(displayed) - 2  # the last frames may lack a present span
    for f in stages:
        assert f.stages_ms["hold"] >= 0.0
        # The stages tile the frame's time: one clock reading ends a stage and begins the next, so nothing falls
        # between them however busy the machine is (a preempted thread's wait belongs to the stage after it).
        assert abs(f.unaccounted_ms) <= 1e-6, (f, f.unaccounted_ms)
    report = json.loads((tmp_path / "report.json").read_text())
    assert "hold" in report["stages"] and report["unaccounted_ms"]["count"] == len(stages)
    assert "<td>hold</td>" in (tmp_path / "report.html").read_text()
    trace = json.loads((tmp_path / "trace.json").read_text())
    holds = [e for e in trace["traceEvents"] if e["name"] == "hold"]
    assert {e["ph"] for e in holds} == {"b", "e"} and len(holds) == 2 * report["stages"]["hold"]["count"]


def test_join_steps_become_slices_a_report_section_and_the_time_to_first_frame() -> None:
    timeline = JoinTimeline(signaling_us=1_050_000, ice_connected_us=None, dtls_connected_us=1_300_000,
                            channels_open_us=1_320_000, avatar_fetched_us=1_330_000, avatar_verified_us=1_500_000,
                            avatar_cached=True)
    # The call's clock is 1 s ahead of the runtime's here: µs 1_000_000 on it is ns 0 on ours.
    bob = JoinTimes.from_timeline("bob", 0, timeline, offset_ns=-1_000 * MS, prepare_ns=600 * MS,
                                  first_decode_ns=900 * MS, first_photon_ns=950 * MS, viewer="alice")
    assert (bob.signaling_ns, bob.ice_ns, bob.dtls_ns) == (50 * MS, None, 300 * MS)
    spans = join_spans(bob)
    assert [(s.name, s.start_ns // MS, s.end_ns // MS) for s in spans] == [
        ("signaling", 0, 50), ("dtls", 50, 300), ("channels", 300, 320), ("avatar_fetch", 320, 330),
        ("verify", 330, 500), ("prepare", 500, 600), ("first_decode", 600, 900), ("first_photon", 900, 950)]
    assert {s.thread for s in spans} == {"join bob"}
    carol = JoinTimes("carol", 100 * MS, signaling_ns=200 * MS)  # joined, never shown
    slow = JoinTimes("dave", 0, first_photon_ns=2_500 * MS)
    frames = [FramePresented("bob", 1, 0, 90 * MS)]
    decode = [Span("decode", 0, 2 * MS, "render", 1, "bob")]
    report = build_report(spans=decode + spans, frames=frames, audio=[], packets=[], start_ns=0, end_ns=10**9,
                          avatars=1, frames_rendered=1, joins=[bob, carol, slow])
    assert list(report.stages) == ["decode"], "join slices are not pipeline stages"
    assert report.time_to_first_frame_s == pytest.approx(2.5)
    assert report.join["bob"] == PeerJoin("alice", True, 0.05, None, 0.3, 0.32, 0.33, 0.5, 0.6, 0.9, 0.95)
    data = json.loads(report_to_json(report))
    assert data["time_to_first_frame_s"] == 2.5 and data["join"]["carol"]["first_photon_s"] is None
    assert data["join"]["bob"]["ice_s"] is None and data["join"]["bob"]["verify_s"] == 0.5
    page = report_html(report, frames)
    assert "Time to first remote frame: 2.500 s" in page and "alice sees bob (cached)" in page
    nothing = build_report(spans=[], frames=[], audio=[], packets=[], start_ns=0, end_ns=1, avatars=0,
                           frames_rendered=0)
    assert nothing.time_to_first_frame_s is None and json.loads(report_to_json(nothing))["join"] == {}



def test_a_peer_that_came_later_is_joined_from_when_signaling_named_it() -> None:
    """alice was in the room 0.6 s before bob arrived: her join of bob starts when his offer named him, so the
    wait for him to come is not counted as joining him; a peer already there is joined from our own start."""
    later = JoinTimeline(announced_us=600_000, signaling_us=620_000, dtls_connected_us=700_000)
    alice_sees_bob = JoinTimes.from_timeline("bob", 0, later, first_photon_ns=1_100 * MS)
    assert alice_sees_bob.start_ns == 600 * MS
    assert PeerJoin.of(alice_sees_bob).first_photon_s == pytest.approx(0.5)
    earlier = JoinTimeline(announced_us=100_000, signaling_us=150_000)
    bob_sees_alice = JoinTimes.from_timeline("alice", 200 * MS, earlier, first_photon_ns=900 * MS)
    assert bob_sees_alice.start_ns == 200 * MS and PeerJoin.of(bob_sees_alice).first_photon_s == pytest.approx(0.7)
