"""The call in the headset: what `codecav call --render xr` adds around the Engine when an OpenXR runtime answers.

- Your headset drives your avatar: each frame the HMD pose (relative to the seated origin, recalibrated when
  the runtime recentres its reference space) goes into `HeadsetTracking`, and the source the call sends from is
  wrapped in `HeadTrackedSource`; eye gaze and face tracking, when the runtime offers them, become sources fused
  with the live ones (mic, webcam) by confidence; otherwise one line says what drives the face instead.
- Timing follows the runtime: the Engine runs unpaced (xrWaitFrame paces it) and shows each remote's face for
  the predicted display time, which is also the photon time of its capture-to-photon; each frame's xrWaitFrame
  and xrEndFrame and its lateness go into the trace.
- Session lifecycle: `check` turns state changes, recentring and loss into one line each and says when the
  headset side should leave (STOPPING, runtime lost, or the call's time is up: then it asks the runtime to end
  the session and leaves once it has stopped, at most EXIT_GRACE_S later).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from codecav.assets.package import AvatarPackage
from codecav.camera import View
from codecav.clock import MONOTONIC, Clock
from codecav.encoders.base import ExpressionSource, LatentSource
from codecav.runtime.profiler import Profiler
from codecav.xr.base import EyeView
from codecav.xr.headset_sources import (
    HeadsetFaceSource,
    HeadsetGazeSource,
    HeadsetReading,
    HeadsetTracking,
    HeadTrackedSource,
)
from codecav.xr.openxr.target import OpenXRTarget
from codecav.xr.seated import SeatedOrigin, openxr_gaze_to_head

SNAPSHOT_EVERY_FRAMES = 40
"""With snapshots on, both eyes are read back every this many rendered frames (2 s at Monado's 20 Hz)."""
EXIT_GRACE_S = 2.0
"""How long the headset side waits for the runtime to stop the session it asked to end."""


@dataclass(frozen=True)
class HeadsetFrame:
    """One frame through the runtime, as xr_call.json lists it."""

    index: int
    """Frame number from 0."""
    predicted_display_ns: int
    """Its predicted display time (CLOCK_MONOTONIC)."""
    wait_ms: float
    """Time blocked in xrWaitFrame."""
    end_ms: float
    """Time in xrEndFrame."""
    late: bool
    """xrEndFrame returned after the predicted display time."""
    rendered: bool
    """It carried a projection layer."""
    runtime_orientation: list[float] | None
    """The HMD orientation (x, y, z, w) the runtime reported for it; None when untracked."""
    head_orientation: list[float] | None
    """The same relative to the seated origin in codecav head space: what the call sends."""


@dataclass
class EyeSnapshot:
    """Both eyes' swapchain images of one frame, with the views that drew them and where the remotes were."""

    frame: int
    """Rendered-frame number."""
    images: list[np.ndarray]
    """uint8 [H, W, 3] per eye, top row first."""
    views: list[View]
    """The located view of each eye."""
    remote_heads: dict[str, list[float]] = field(default_factory=dict)
    """Peer -> world position of its head-space origin."""


def _state_line(state: str, previous: str, exiting: bool) -> str:
    """One line for a session state entered after the session was first focused ('' for none)."""
    if state == "SYNCHRONIZED":
        return ("headset: the app is hidden (headset taken off, or the runtime shows something else); "
                "the call goes on, nothing is rendered until it is back")
    if state == "VISIBLE":
        return ("headset: visible again, without input focus" if previous == "SYNCHRONIZED" else
                "headset: visible but not focused (a system overlay has the input); the call goes on")
    if state == "FOCUSED":
        return "headset: focused again"
    if state == "STOPPING":
        return ("headset: the session is stopping (the call's time is up)" if exiting else
                "headset: the runtime stopped the session (STOPPING); leaving the call, the others carry on")
    if state == "LOSS_PENDING":
        return "headset: the runtime is losing the session (LOSS_PENDING); leaving the call, the others carry on"
    return ""


class HeadsetCall:
    """Joins an OpenXRTarget to a call: head tracking for the sender, lifecycle lines, timing spans, snapshots."""

    def __init__(self, target: OpenXRTarget, profiler: Profiler, *, seconds: float | None = None,
                 snapshots: bool = False, clock: Clock = MONOTONIC) -> None:
        """`seconds`: when to end the session (None: when the runtime does); `snapshots`: read both eyes back
        every SNAPSHOT_EVERY_FRAMES rendered frames (for --out)."""
        self.target = target
        self.profiler = profiler
        self.seconds = seconds
        self.clock = clock
        self.seat = SeatedOrigin()
        """The seated origin head poses are sent relative to."""
        self.tracking = HeadsetTracking(clock)
        """The newest reading, for the sender's sources."""
        self.frames: list[HeadsetFrame] = []
        """Every frame through the runtime."""
        self.snapshot: EyeSnapshot | None = None
        """The newest snapshot (None before the first, or without snapshots)."""
        self.ended = ""
        """Why the headset side left (empty while it runs)."""
        self.source: HeadTrackedSource | None = None
        """The sender's source once `open_source` wrapped it."""
        self.remote_heads: Callable[[], dict[str, np.ndarray]] = dict
        """Where the remote heads are in the world (set by the caller; for snapshots)."""
        self._states_seen = len(target.session_states)
        self._focused = False
        self._space_changes = target.reference_space_changes
        self._start_ns: int | None = None
        self._exit_requested_ns: int | None = None
        self._rendered = 0
        target.on_tracked = self._publish
        if snapshots:
            target.before_present = self._grab

    # ---- the sender ----------------------------------------------------------------------------------------
    def open_source(self, spec: str, package: AvatarPackage, fps: float,
                    open_plain: Callable[[str, AvatarPackage, float], LatentSource]) -> tuple[LatentSource, str]:
        """The LatentSource the call sends from and one line on what drives the avatar. The headset's eye gaze
        and face tracking, when active, are fused with the live sources of `spec` (mic, webcam); otherwise
        `open_plain(spec, package, fps)` drives the face. Either way the head pose comes from the headset."""
        from codecav.encoders.paced_source import LIVE_SOURCES

        target = self.target
        parts = [] if spec.partition(":")[0] == "synthetic" else spec.split("+")
        offered = [name for name, active in (("face tracking", target.face_tracking_active),
                                             ("eye gaze", target.eye_gaze_active)) if active]
        replayed = [p for p in parts if p.partition(":")[0] not in LIVE_SOURCES]
        if offered and not replayed:
            inner = self._fused_source(parts, package, fps)
            note = (f"your head and {' and '.join(offered)} from the headset"
                    + (f", fused with {'+'.join(parts)}" if parts else "") + " drive your avatar")
        else:
            inner = open_plain(spec, package, fps)
            if offered:
                note = (f"your head from the headset, your face from --source {spec} ({', '.join(replayed)} "
                        f"replays a file, so the headset's {' and '.join(offered)} is not fused with it)")
            else:
                missing = "; ".join(n.split(";")[0] for n in target.notes if n.startswith(("eye gaze off",
                                                                                           "face tracking off")))
                note = (f"your head from the headset, your face from --source {spec} "
                        f"({missing or 'no eye gaze or face tracking'})")
        self.source = HeadTrackedSource(inner, self.tracking)
        return self.source, note

    def _fused_source(self, parts: list[str], package: AvatarPackage, fps: float) -> LatentSource:
        from codecav.encoders.expression import ExpressionEncoder
        from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig
        from codecav.encoders.sources import open_source

        sources: dict[str, ExpressionSource] = {}
        if self.target.face_tracking_active:
            sources["face_tracking"] = HeadsetFaceSource(self.tracking)
        if self.target.eye_gaze_active:
            sources["gaze"] = HeadsetGazeSource(self.tracking)
        for part in parts:
            kind, source = open_source(part)
            sources[kind if kind not in sources else f"{kind}{len(sources)}"] = source
        return ExpressionLatentSource(sources, ExpressionEncoder.from_package(package),
                                      LatentSourceConfig(fps=fps, realtime=True), clock=self.clock)

    def _publish(self) -> None:
        """The target located this frame's head, gaze and face: hand them to the sender at once."""
        target = self.target
        raw = target.head_pose
        head = None if raw is None else self.seat.head_pose(raw.position, raw.orientation)
        gaze = None if target.gaze is None else openxr_gaze_to_head(target.gaze)
        self.tracking.put(HeadsetReading(self.clock.now_ns(), target.predicted_display_ns, raw, head, gaze,
                                         target.face))

    # ---- the render loop -------------------------------------------------------------------------------------
    def check(self, notify: Callable[[str], None]) -> bool:
        """Called before each frame: say what changed (one line each) and whether the headset side should leave."""
        target = self.target
        now = self.clock.now_ns()
        if self._start_ns is None:
            self._start_ns = now
        states = target.session_states
        for i in range(self._states_seen, len(states)):
            if states[i] == "FOCUSED" and not self._focused:
                self._focused = True
                continue
            exiting = self._exit_requested_ns is not None
            line = _state_line(states[i], states[i - 1] if i else "", exiting)
            # Before the first focus the session is starting; once we asked to end it, it walks down through
            # VISIBLE and SYNCHRONIZED to STOPPING: only the stop is news then.
            ending = states[i] in ("STOPPING", "LOSS_PENDING")
            if line and (ending or (self._focused and not exiting)):
                notify(line)
        self._states_seen = len(states)
        if target.reference_space_changes != self._space_changes:
            self._space_changes = target.reference_space_changes
            self.seat.recentre()
            notify("headset: the runtime recentred its reference space; your seat is recalibrated")
        if target.lost and not self.ended:
            self.ended = target.lost
            notify(f"headset: {target.lost}; leaving the call, the others carry on")
        if self.seconds is not None and self._exit_requested_ns is None \
                and now - self._start_ns >= self.seconds * 1e9:
            self._exit_requested_ns = now
            target.request_exit()
        if target.stopped and not self.ended:
            self.ended = "the session stopped"
        if self._exit_requested_ns is not None and not self.ended \
                and now - self._exit_requested_ns > EXIT_GRACE_S * 1e9:
            self.ended = f"the runtime did not stop the session within {EXIT_GRACE_S:g} s of the request"
            notify(f"headset: {self.ended}; leaving the call")
        return bool(self.ended) or target.should_close

    def on_presented(self, index: int) -> None:
        """After each frame: its runtime timing into the trace and the frame list."""
        times = self.target.last_frame_times
        if times is None or (self.frames and self.frames[-1].predicted_display_ns == times.predicted_display_ns
                             and times.predicted_display_ns):
            return  # no frame went through the runtime this time (session not running)
        self.profiler.add("xrWaitFrame", times.wait_start_ns, times.wait_end_ns, frame=index, thread="openxr")
        self.profiler.add("xrEndFrame", times.end_start_ns, times.end_end_ns, frame=index, thread="openxr")
        if times.late:
            self.profiler.add("late_frame", times.wait_end_ns, times.end_end_ns, frame=index, thread="openxr late")
        reading = self.tracking.latest()
        runtime = None if reading is None or reading.runtime_pose is None else reading.runtime_pose
        head = None if reading is None or reading.head_pose is None else reading.head_pose
        self.frames.append(HeadsetFrame(
            len(self.frames), times.predicted_display_ns, (times.wait_end_ns - times.wait_start_ns) / 1e6,
            (times.end_end_ns - times.end_start_ns) / 1e6, times.late, times.rendered,
            None if runtime is None else [float(v) for v in runtime.orientation],
            None if head is None else [float(v) for v in head.orientation]))

    def _grab(self, eyes: list[EyeView]) -> None:
        self._rendered += 1
        heads = self.remote_heads()
        if not heads or self._rendered % SNAPSHOT_EVERY_FRAMES:
            return
        images = [self.target.read_rgb(i) for i in range(len(eyes))]
        self.snapshot = EyeSnapshot(self._rendered, images, [e.view for e in eyes],
                                    {peer: [float(v) for v in pos] for peer, pos in heads.items()})

    # ---- results -------------------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: the runtime's frame timing."""
        return f"headset frames: {self.target.timing_stats().summary()}"

    def write(self, out: Path) -> list[Path]:
        """xr_call.json (timing, states, frames, every sent head pose and the reading it came from) and, with a
        snapshot, xr_eye0.png / xr_eye1.png; returns the paths written."""
        from PIL import Image

        target = self.target
        sent = [] if self.source is None else [
            {"sequence": s.sequence, "capture_time_us": s.capture_time_us, "reading_ns": s.reading.time_ns,
             "display_ns": s.reading.display_ns,
             "runtime_position": None if s.reading.runtime_pose is None else s.reading.runtime_pose.position.tolist(),
             "runtime_orientation": (None if s.reading.runtime_pose is None
                                     else s.reading.runtime_pose.orientation.tolist()),
             "head_position": None if s.reading.head_pose is None else s.reading.head_pose.position.tolist(),
             "head_orientation": None if s.reading.head_pose is None else s.reading.head_pose.orientation.tolist()}
            for s in self.source.stamped]
        origin = self.seat.origin
        record: dict[str, object] = {
            "system_name": target.system_name,
            "notes": list(target.notes),
            "session_states": list(target.session_states),
            "ended": self.ended,
            "timing": asdict(target.timing_stats()),
            "seat_calibrations": self.seat.calibrations,
            "seat_origin": (None if origin is None
                            else {"position": origin.position.tolist(), "yaw_rad": origin.yaw_rad}),
            "frames": [asdict(f) for f in self.frames],
            "sent": sent,
        }
        paths = []
        snap = self.snapshot
        if snap is not None:
            record["snapshot"] = {
                "frame": snap.frame, "remote_heads": snap.remote_heads,
                "views": [{"view_matrix": v.view_matrix.tolist(), "projection": v.projection.tolist(),
                           "width": v.width, "height": v.height} for v in snap.views]}
            for i, image in enumerate(snap.images):
                paths.append(out / f"xr_eye{i}.png")
                Image.fromarray(image).save(paths[-1])
        path = out / "xr_call.json"
        path.write_text(json.dumps(record, indent=1) + "\n")
        return [path, *paths]

    def close(self) -> None:
        """Wake the sender's headset sources and unhook from the target."""
        self.tracking.close()
        self.target.on_tracked = None
        self.target.before_present = None
