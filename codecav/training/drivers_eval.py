"""hmc_decode_psnr_db: how well an avatar driven through its headset cameras matches the person.

A held-out sequence (the clip sentence, never trained on, with blinks and gaze) is rendered twice by the studio:
through the headset cameras (noise, slippage) and from the frontal dome camera (ground truth). The HMC encoder
turns the headset views into ARKit-52 weights, the avatar's expression encoder into codes, and the avatar is
decoded and drawn through the GLSL path (PicaRenderer) from the same frontal camera; PSNR is taken over the
pixels either image covers, as `codecav avatar eval` does. The same with the ground-truth weights gives the
ceiling the avatar itself sets (`reference_psnr_db`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.assets.loader import load_avatar
from codecav.clock import MONOTONIC, Clock
from codecav.decoders.base import AvatarDraw
from codecav.decoders.neural import OnnxNeuralDecoder
from codecav.decoders.pica_gl import PicaOptions, PicaRenderer
from codecav.encoders.hmc import HmcEncoder
from codecav.training.drivers_clips import CLIP_SENTENCE, clip_weights
from codecav.training.evaluate import BACKGROUND, BACKGROUND_8BIT, camera_centre, camera_view, expression_codes
from codecav.training.metrics import psnr
from codecav.training.multiface import MultifaceCamera
from codecav.training.studio.albedo import paint_albedo
from codecav.training.studio.expressions import SENTENCES
from codecav.training.studio.hmc import HmcStudio, slippage
from codecav.training.studio.render import StudioRenderer, create_context
from codecav.training.studio.rig import RigConfig, make_rig
from codecav.xr.headless import HeadlessTarget


@dataclass(frozen=True)
class HmcDecodeScore:
    """Result of hmc_decode_psnr."""

    psnr_db: float
    """Mean PSNR (head pixels) of the avatar driven by the HMC encoder vs the ground-truth render."""
    reference_psnr_db: float
    """The same with codes from the ground-truth ARKit weights (the avatar's own ceiling)."""
    weight_mae: float
    """Mean absolute error of the HMC encoder's ARKit weights."""
    frames: int
    """Frames scored."""
    seconds: float
    """Wall time."""


def sample_identity(avatar: Path) -> int | None:
    """The MakeHuman studio identity a trained package was captured from (provenance data.identity.index), or
    None (also for a capture of another head, e.g. the ICT rig: the HMC models are per MakeHuman identity)."""
    provenance = load_avatar(avatar).manifest.provenance
    data = provenance.get("data")
    settings = data.get("capture_config") if isinstance(data, dict) else None
    if isinstance(settings, dict) and settings.get("head_source", "makehuman") != "makehuman":
        return None
    identity = data.get("identity") if isinstance(data, dict) else None
    if isinstance(identity, dict):
        identity = identity.get("index")
    return identity if isinstance(identity, int) else None


def capture_height(avatar: Path, default: int = 512) -> int:
    """Image rows of the capture a trained package was made from (provenance), else `default`."""
    data = load_avatar(avatar).manifest.provenance.get("data")
    config = data.get("capture_config") if isinstance(data, dict) else None
    height = config.get("height") if isinstance(config, dict) else None
    return height if isinstance(height, int) else default


def hmc_decode_psnr(avatar: Path, identity: int, hmc_model: Path | bytes, frames: int = 8, height: int | None = None,
                    seed: int = 7, *, clock: Clock = MONOTONIC) -> HmcDecodeScore:
    """Score `avatar` (trained on studio identity `identity`) driven by `hmc_model` (see module docstring), at the
    image size of the avatar's own capture unless `height` is given; `clock` times it."""
    start = clock.now_s()
    height = capture_height(avatar) if height is None else height
    weights, _ = clip_weights(SENTENCES[CLIP_SENTENCE], identity, None)
    pick = np.linspace(0, len(weights) - 1, frames).round().astype(int)
    truth_w = weights[pick]
    rng = np.random.default_rng(seed)
    studio = HmcStudio(identity)
    try:
        slip = slippage(rng, studio.config)
        views = np.stack([studio.render(w, slip, rng) for w in truth_w])
        model, neutral, person = studio.model, studio._neutral, studio.person
    finally:
        studio.close()
    pred_w = np.clip(HmcEncoder(hmc_model).encode(views), 0, 1)
    width = int(round(height * 1334 / 2048))
    cam = make_rig(RigConfig(num_cameras=1, width=width, height=height))[0]
    ctx = create_context()
    renderer = StudioRenderer(ctx, model, paint_albedo(model, person, 1024), width, height, 64)
    try:
        truths = []
        for w in truth_w:
            renderer.set_positions(model.posed(w, neutral))
            truths.append(renderer.render(cam, unwrap=False).image)
    finally:
        renderer.release()
        ctx.release()
    package = load_avatar(avatar)
    kr = MultifaceCamera(cam.name, cam.intrinsics, cam.distortion, cam.extrinsics)
    scores = {}
    for name, arkit in (("hmc", pred_w), ("reference", truth_w)):
        codes = expression_codes(package, arkit)
        images, masks = _render_avatar(package, codes, kr, width, height)
        values = []
        for image, covered, truth in zip(images, masks, truths, strict=True):
            truth_mask = np.abs(truth.astype(int) - BACKGROUND_8BIT).sum(axis=2) > 0
            values.append(psnr(image, truth, covered | truth_mask))
        scores[name] = float(np.mean(values))
    return HmcDecodeScore(scores["hmc"], scores["reference"], float(np.abs(pred_w - truth_w).mean()), frames,
                          clock.now_s() - start)


def _render_avatar(package: object, codes: np.ndarray, cam: MultifaceCamera, width: int,
                   height: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images and coverage masks of the avatar with each code, seen by `cam` (head pose: identity)."""
    from codecav.assets.package import AvatarPackage

    assert isinstance(package, AvatarPackage)
    decoder = OnnxNeuralDecoder(package.decoder_onnx, threads=1)
    view = camera_view(cam, width, height)
    target = HeadlessTarget([view])
    renderer = PicaRenderer(target.ctx, PicaOptions(background=BACKGROUND))
    centre = camera_centre(cam)
    view_dir = (centre / np.linalg.norm(centre)).astype(np.float32)
    images, masks = [], []
    try:
        handle = renderer.add_avatar(package.mesh, package.pixel_mlp, package.manifest.feature_map)
        for code in codes:
            renderer.update(handle, decoder.decode(code, view_dir))
            (eye,) = target.begin_frame()
            renderer.render(eye, [AvatarDraw(handle, np.eye(4, dtype=np.float32))])
            target.present()
            images.append(target.read_rgb(0))
            masks.append(target.read_depth(0) < 1.0)
    finally:
        renderer.release()
        target.close()
        target.ctx.release()
    return images, masks
