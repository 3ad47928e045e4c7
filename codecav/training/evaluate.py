"""`codecav avatar eval`: render an avatar package through the GLSL path (PicaRenderer into a HeadlessTarget
framed by each capture camera's KRT) and compare with the captured images: PSNR and SSIM over the pixels
the head covers (union of rendered and captured masks) and over the whole image.

Codes come from the package's expression encoder (encoders/expression.onnx) applied to the capture's
ground-truth ARKit-52 weights - the path a face-tracking driver takes. Held-out sets: on the training
capture, the split recorded in the package provenance; on any other capture (e.g. a fresh --quick one of
the same person with a new expression seed), its random, blink and gaze frames are unseen expressions
(its SEN_* speech is scripted, so it repeats the training capture's and is left out), and cameras
farther than NEAR_CAMERA_M from every training camera are unseen views.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage
from codecav.camera import View
from codecav.clock import MONOTONIC, Clock
from codecav.decoders.base import AvatarDraw
from codecav.decoders.neural import OnnxNeuralDecoder
from codecav.decoders.pica_gl import PicaOptions, PicaRenderer
from codecav.training.errors import EvalError
from codecav.training.metrics import psnr, ssim
from codecav.training.multiface import MultifaceCamera, MultifaceCapture, read_capture
from codecav.xr.headless import HeadlessTarget

BACKGROUND = (0.1, 0.1, 0.1)
"""The studio's background colour (sRGB), used as the render's clear colour."""
BACKGROUND_8BIT = 26
"""The same in 8 bits: captured pixels that differ from it are head pixels."""
NEAR_CAMERA_M = 0.02
"""A camera within this distance of a training camera counts as a seen view."""
NEAR, FAR = 0.05, 10.0
"""Clip planes of the eval projection, metres."""
EXPRESSION_MEMBER = "encoders/expression.onnx"
"""The package's ARKit-52 -> code encoder."""


@dataclass(frozen=True)
class EvalSet:
    """Frames x cameras rendered for one metric group."""

    name: str
    """'heldout_expr' or 'heldout_view' (or 'train')."""
    frames: tuple[int, ...]
    """Frame indices into the capture's frame list."""
    cameras: tuple[str, ...]
    """Camera names."""


@dataclass(frozen=True)
class EvalScores:
    """Mean metrics of one set."""

    psnr: float
    """PSNR (dB) over head pixels (union of rendered and captured masks), mean over images."""
    ssim: float
    """SSIM over head pixels, mean over images."""
    psnr_full: float
    """PSNR over the whole image."""
    ssim_full: float
    """SSIM over the whole image."""
    mask_iou: float
    """Intersection over union of rendered and captured head masks (geometry and pose agreement)."""
    images: int
    """Images compared."""


@dataclass
class EvalReport:
    """Scores per set for one package, plus what was evaluated."""

    package: str
    """Package path."""
    capture: str
    """Capture path."""
    code_source: str
    """Where codes came from ('expression encoder on ground-truth ARKit-52')."""
    scores: dict[str, EvalScores] = field(default_factory=dict)
    """Set name -> scores."""
    seconds: float = 0.0
    """Wall time of the evaluation."""

    def flat(self, prefix: str = "") -> dict[str, float | int]:
        """{prefix}psnr_<set>, ssim_<set>, psnr_full_<set>, ssim_full_<set>, mask_iou_<set>, images_<set>."""
        out: dict[str, float | int] = {}
        for name, s in self.scores.items():
            out.update({f"{prefix}psnr_{name}": round(s.psnr, 3), f"{prefix}ssim_{name}": round(s.ssim, 4),
                        f"{prefix}psnr_full_{name}": round(s.psnr_full, 3),
                        f"{prefix}ssim_full_{name}": round(s.ssim_full, 4),
                        f"{prefix}mask_iou_{name}": round(s.mask_iou, 4), f"{prefix}images_{name}": s.images})
        return out


def camera_view(camera: MultifaceCamera, width: int, height: int) -> View:
    """The GL View of a KRT camera: OpenCV [R | t] (x right, y down, z forward) -> GL eye (y up, z back),
    projection from the intrinsics so pixel rows count from the top as in the captured image."""
    view = np.eye(4)
    view[:3] = np.diag([1.0, -1.0, -1.0]) @ np.asarray(camera.extrinsics, np.float64)
    k = camera.intrinsics
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    projection = np.array([
        [2 * fx / width, 0, 1 - 2 * cx / width, 0],
        [0, 2 * fy / height, 2 * cy / height - 1, 0],
        [0, 0, -(FAR + NEAR) / (FAR - NEAR), -2 * FAR * NEAR / (FAR - NEAR)],
        [0, 0, -1, 0],
    ])
    return View(view.astype(np.float32), projection.astype(np.float32), width, height)


def camera_centre(camera: MultifaceCamera) -> np.ndarray:
    """float64 [3] world position of a KRT camera."""
    r, t = camera.extrinsics[:, :3], camera.extrinsics[:, 3]
    out: np.ndarray = -r.T @ t
    return out


def eval_sets(package: AvatarPackage, capture: MultifaceCapture, max_frames: int, max_cameras: int,
              seed: int = 0) -> list[EvalSet]:
    """Held-out expression and view sets (see the module docstring), subsampled to at most `max_frames`
    frames and `max_cameras` cameras each, evenly."""
    prov = package.manifest.provenance
    data = prov.get("data", {}) if isinstance(prov.get("data"), dict) else {}
    split = data.get("split") if isinstance(data.get("split"), dict) else None
    same_capture = split is not None and data.get("fingerprint") == capture_fingerprint(capture)
    names = [c.name for c in capture.cameras]
    if same_capture and split is not None:
        held_frames = [int(i) for i in split["heldout_frames"]]
        train_frames = [int(i) for i in split["train_frames"]]
        seen_cams = [c for c in names if c in split["train_cameras"]]
        unseen_cams = [c for c in names if c in split["heldout_cameras"]]
        sets = [EvalSet("heldout_expr", _even(held_frames, max_frames), _even(seen_cams, max_cameras)),
                EvalSet("heldout_view", _even(train_frames, max_frames), _even(unseen_cams, max_cameras))]
    else:
        centres = np.asarray(data.get("train_camera_centres", []), np.float64).reshape(-1, 3)
        seen_cams, unseen_cams = [], []
        for cam in capture.cameras:
            near = len(centres) and np.linalg.norm(centres - camera_centre(cam), axis=1).min() < NEAR_CAMERA_M
            (seen_cams if near else unseen_cams).append(cam.name)
        # Scripted speech (SEN_*) repeats across captures of a person; random, blink and gaze frames are new.
        frames = [i for i, f in enumerate(capture.frames) if not f.segment.startswith("SEN_")]
        sets = [EvalSet("heldout_expr", _even(frames, max_frames), _even(seen_cams, max_cameras)),
                EvalSet("heldout_view", _even(frames, max_frames), _even(unseen_cams, max_cameras))]
    return [s for s in sets if s.frames and s.cameras]


def _even(items: list[Any], count: int) -> tuple[Any, ...]:
    if len(items) <= count:
        return tuple(items)
    return tuple(items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int))


def capture_fingerprint(capture: MultifaceCapture) -> str:
    """Identifies a capture by its settings, identity and expressions (capture.json, identity.json, counts and
    expressions.npy), so a fresh capture of the same person with new expressions differs."""
    parts = [str(len(capture.frames)), str(len(capture.cameras))]
    if capture.expressions is not None:
        parts.append(hashlib.sha256(np.ascontiguousarray(capture.expressions, np.float32).tobytes()).hexdigest())
    for name in ("capture.json", "identity.json"):
        path = capture.root / "studio" / name
        parts.append(json.dumps(json.loads(path.read_text()), sort_keys=True) if path.is_file() else "")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def expression_codes(package: AvatarPackage, arkit: np.ndarray) -> np.ndarray:
    """float32 [N, D] codes of ARKit-52 weights [N, 52] from the package's expression encoder."""
    model = package.encoders_onnx.get(EXPRESSION_MEMBER)
    if model is None:
        raise EvalError(f"{package.source}: has no {EXPRESSION_MEMBER}; rebuild it with codecav avatar build")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (codes,) = session.run(["code"], {"arkit": np.ascontiguousarray(arkit, np.float32)})
    out: np.ndarray = np.asarray(codes, np.float32)
    return out


@dataclass(frozen=True)
class HeldOutRender:
    """One held-out image: the package's render beside the capture's."""

    set_name: str
    """The EvalSet it belongs to."""
    camera: str
    """Camera name."""
    frame: int
    """Frame index into the capture's frame list."""
    rendered: np.ndarray
    """uint8 [H, W, 3] the avatar's render (GLSL, headless)."""
    covered: np.ndarray
    """bool [H, W] pixels the render covered."""
    truth: np.ndarray
    """uint8 [H, W, 3] the captured image."""


def held_out_renders(package: AvatarPackage, capture: MultifaceCapture, max_frames: int = 12,
                     max_cameras: int = 4) -> Iterator[HeldOutRender]:
    """Render every frame x camera of the package's held-out sets of `capture` as `evaluate` scores them: codes
    from the package's expression encoder on the capture's ARKit weights, the ONNX decoder for each camera's
    head-space view direction, PicaRenderer into a HeadlessTarget framed by the camera's KRT. EvalError if the
    capture does not fit the package."""
    if capture.num_vertices != package.manifest.mesh.num_vertices:
        raise EvalError(f"{capture.root}: meshes have {capture.num_vertices} vertices, the avatar "
                        f"{package.manifest.mesh.num_vertices}; evaluate on a capture of the same studio head")
    if capture.expressions is None:
        raise EvalError(f"{capture.root}: has no expressions.npy; evaluate on a studio capture")
    sets = eval_sets(package, capture, max_frames, max_cameras)
    if not sets:
        raise EvalError(f"{capture.root}: no held-out frames or cameras to evaluate; use another capture or --quick")
    codes = expression_codes(package, capture.expressions)
    decoder = OnnxNeuralDecoder(package.decoder_onnx, threads=1)
    first = capture.image(capture.frames[0], capture.cameras[0].name)
    height, width = first.shape[:2]
    target = HeadlessTarget([camera_view(capture.cameras[0], width, height)])
    renderer = PicaRenderer(target.ctx, PicaOptions(background=BACKGROUND))
    try:
        handle = renderer.add_avatar(package.mesh, package.pixel_mlp, package.manifest.feature_map)
        for eval_set in sets:
            for frame in eval_set.frames:
                ref = capture.frames[frame]
                pose = np.eye(4)
                pose[:3] = capture.transform(ref)
                for cam_name in eval_set.cameras:
                    cam = capture.camera(cam_name)
                    target.set_views([camera_view(cam, width, height)])
                    eye_head = np.linalg.inv(pose) @ np.append(camera_centre(cam), 1.0)
                    view_dir = (eye_head[:3] / np.linalg.norm(eye_head[:3])).astype(np.float32)
                    renderer.update(handle, decoder.decode(codes[frame], view_dir))
                    (eye,) = target.begin_frame()
                    renderer.render(eye, [AvatarDraw(handle, pose.astype(np.float32))])
                    target.present()
                    yield HeldOutRender(eval_set.name, cam_name, frame, target.read_rgb(0),
                                        target.read_depth(0) < 1.0, capture.image(ref, cam_name))
    finally:
        renderer.release()
        target.close()
        target.ctx.release()


def evaluate(package_path: Path, capture_path: Path, *, max_frames: int = 12, max_cameras: int = 4,
             progress: Callable[[str], None] | None = None, clock: Clock = MONOTONIC) -> EvalReport:
    """Render held-out frames of `capture_path` with the package at `package_path` and score them; `clock`
    times the run (`EvalReport.seconds`)."""
    start = clock.now_s()
    package = load_avatar(package_path)
    capture = read_capture(capture_path)
    report = EvalReport(str(package_path), str(capture_path), "expression encoder on ground-truth ARKit-52")
    rows: dict[str, list[list[float]]] = {}

    def finish_set(name: str) -> None:
        mean = np.asarray(rows[name]).mean(axis=0)
        report.scores[name] = EvalScores(float(mean[0]), float(mean[1]), float(mean[2]), float(mean[3]),
                                         float(mean[4]), len(rows[name]))
        if progress is not None:
            progress(f"{name}: {len(rows[name])} images, PSNR {report.scores[name].psnr:.2f} dB")

    for image in held_out_renders(package, capture, max_frames, max_cameras):
        if rows and image.set_name not in rows:  # the sets come one after the other: the previous one is done
            finish_set(next(reversed(rows)))
        rows.setdefault(image.set_name, []).append(_score(image.rendered, image.covered, image.truth))
    if rows:
        finish_set(next(reversed(rows)))
    report.seconds = clock.now_s() - start
    return report


def _score(rendered: np.ndarray, covered: np.ndarray, truth: np.ndarray) -> list[float]:
    truth_mask = np.abs(truth.astype(int) - BACKGROUND_8BIT).sum(axis=2) > 0
    union = covered | truth_mask
    inter = covered & truth_mask
    return [psnr(rendered, truth, union), ssim(rendered, truth, union), psnr(rendered, truth),
            ssim(rendered, truth), float(inter.sum() / max(union.sum(), 1))]
