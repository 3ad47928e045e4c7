"""`codecav drive --source webcam:FILE --avatar PATH --out video.mp4`: a face video drives an avatar, rendered
next to the input picture, frame by frame (no network: what a user sees before joining a call)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage
from codecav.camera import pose_matrix
from codecav.errors import CodecavError
from codecav.latent import HeadPose
from codecav.runtime.render_command import shipped_sample_paths
from codecav.runtime.scene import AvatarInstance, Scene, camera_views
from codecav.runtime.scene_renderer import SceneRenderer
from codecav.runtime.video import Mp4Writer
from codecav.xr.headless import HeadlessTarget

VIEW_DISTANCE_M = 0.75
"""Camera distance from the avatar's head (a head and shoulders framing at 30 degrees)."""


class DriveError(CodecavError):
    """`codecav drive` cannot run as asked."""


@dataclass(frozen=True)
class DriveRequest:
    """What `codecav drive` was asked to do."""

    source: str
    """Source spec, e.g. 'webcam:clip.mp4' or 'webcam:/dev/video0'."""
    out: Path
    """MP4 to write."""
    avatar: Path | None = None
    """Avatar package with encoders/expression.onnx; None: the first shipped sample avatar."""
    seconds: float | None = None
    """Stop after this much input (None: the whole file; a camera needs it)."""
    height: int = 360
    """Output height; the avatar view is square, the input keeps its aspect ratio."""
    follow_head: bool = True
    """Turn the avatar's head with the tracked head pose."""


def default_avatar() -> AvatarPackage:
    """The first shipped sample avatar, or a synthetic one with an expression encoder when none ships."""
    paths = shipped_sample_paths()
    if paths:
        return load_avatar(paths[0])
    from codecav.assets.synthetic.avatar import build_synthetic_avatar

    return build_synthetic_avatar(seed=0, expression_encoder=True)


def _head_transform(pose: HeadPose | None, follow: bool) -> np.ndarray:
    """Head -> world: the tracked rotation about the head centre (position is left out: the camera frames it)."""
    if pose is None or not follow:
        return np.eye(4, dtype=np.float32)
    return pose_matrix(np.zeros(3, np.float32), pose.orientation).astype(np.float32)


def _fit_height(rgb: np.ndarray, height: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    width = max(2, int(round(w * height / h)) // 2 * 2)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def run_drive(request: DriveRequest) -> Iterator[str]:
    """Drive and render, yielding progress lines; the last one names the video written."""
    from codecav.encoders.expression import ExpressionEncoder
    from codecav.encoders.webcam.source import WebcamConfig, open_webcam_source

    if not request.source.startswith("webcam"):
        raise DriveError(f"source {request.source!r} is not supported by drive; use webcam, webcam:/dev/videoN "
                         "or webcam:FILE")
    if request.height % 2 or not 64 <= request.height <= 2160:
        raise DriveError(f"--height {request.height} must be even and within 64..2160")
    package = load_avatar(request.avatar) if request.avatar is not None else default_avatar()
    encoder = ExpressionEncoder.from_package(package)
    size = request.height
    target = HeadlessTarget(camera_views(size, size, eye=(0.0, 0.0, VIEW_DISTANCE_M), fovy_deg=30.0))
    renderer = SceneRenderer(target.ctx)
    renderer.add_avatar("avatar", package)
    scene = Scene([AvatarInstance("avatar", np.eye(4, dtype=np.float32),
                                  np.zeros(package.manifest.latent.dim, np.float32))])
    tracked = frames = 0
    video: Mp4Writer | None = None
    try:
        with open_webcam_source(request.source, WebcamConfig()) as webcam:
            fps = webcam.fps or 30.0
            yield (f"codecav drive: {request.source} -> {package.manifest.avatar_id} "
                   f"({package.manifest.latent.dim}-float code) at {fps:g} fps")
            limit = None if request.seconds is None else int(request.seconds * fps)
            while limit is None or frames < limit:
                item = webcam.read_frame(timeout=5.0)
                if item is None:
                    break
                sample = item.sample
                found = bool(np.any(sample.confidence > 0))
                tracked += found
                instance = scene.instances[0]
                instance.code = encoder.encode(sample.weights)
                instance.transform = _head_transform(sample.head_pose, request.follow_head)
                instance.frame = item.index
                renderer.render(scene, target.begin_frame())
                target.present()
                picture = np.concatenate([_fit_height(item.rgb, size), target.read_rgb()], axis=1)
                if video is None:
                    video = Mp4Writer(request.out, picture.shape[1], size, fps=int(round(fps)))
                video.write(picture)
                frames += 1
                if frames % int(max(fps, 1) * 5) == 0:
                    yield f"  {frames} frames, {tracked} with a face"
    finally:
        if video is not None:
            video.close()
        renderer.release()
        target.close()
    if frames == 0:
        raise DriveError(f"{request.source} gave no frames; check the file plays or the camera is free")
    yield f"  {frames} frames, {tracked} with a face ({tracked / frames:.0%})"
    yield f"wrote {request.out}"
