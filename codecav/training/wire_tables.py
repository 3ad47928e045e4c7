"""Quant tables for wire format v2: per-entry code steps learned from an avatar's codes so that renders from
received codes stay within a PSNR of renders from the float codes (package member quant_table.npz).

How a table is learned (no retraining; `codecav avatar tables`):
1. Codes: the package's expression encoder on the studio's training expression recipe (random expressions,
   blinks, gaze; expression seed 0, the training captures' seed).
2. Sensitivity: for each code entry, the RMS change of the decoded UV colour (ONNX decoder, then the per-pixel
   MLP's NumPy reference at every texel) per unit of that entry, by finite differences at a few codes.
3. Steps: equal distortion per entry, step_i = sqrt(12 * mse / D) / sensitivity_i (uniform rounding error has
   variance step^2 / 12), so entries the renders barely notice get coarse steps.
4. A global factor on all steps is fitted on GLSL renders (PicaRenderer, llvmpipe): the head-region PSNR of
   renders from quantized codes against renders from the float codes must reach `target_db`.
Held-out check (`evaluate_table`, also in `codecav avatar eval`): expression seed 1000 plus the shipped speech
clips, never used for learning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.assets.package import AvatarPackage, CodeQuantTable, run_pixel_mlp, texel_uv
from codecav.camera import View, look_at, perspective
from codecav.decoders.base import AvatarDraw
from codecav.decoders.neural import OnnxNeuralDecoder
from codecav.decoders.pica_gl import PicaOptions, PicaRenderer
from codecav.training.evaluate import expression_codes
from codecav.xr.headless import HeadlessTarget

TARGET_PSNR_DB = 42.0
"""Head-region PSNR (quantized vs float renders) a learned table reaches on its learning codes: 2 dB over the
40 dB goal, as margin for held-out codes."""
RENDER_SIZE = 256
"""Side of the square close-up the PSNR is measured on (the head fills most of it)."""
FRONT = np.array([0.0, 0.0, 1.0], np.float32)
"""View direction of the frontal camera (head space)."""
CLIPS_DIR = Path(__file__).resolve().parents[1] / "assets" / "clips"
"""Shipped driver clips (ARKit-52 speech sequences), held-out codes for the check."""


@dataclass(frozen=True)
class TableReport:
    """How well a quant table keeps an avatar's renders."""

    psnr_db: float
    """Head-region PSNR of all quantized renders pooled against the float renders."""
    psnr_min_db: float
    """The worst single frame."""
    frames: int
    """Frames rendered."""
    mean_bits_per_entry: float
    """Mean log2(code range / step) over entries: how fine the table is (smaller is coarser)."""


def studio_codes(package: AvatarPackage, identity: int, expression_seed: int) -> np.ndarray:
    """float32 [N, D] codes of the studio's expression recipe (300 random expressions, 40 blink and 40 gaze frames,
    as in the training captures) for `identity` and `expression_seed`, through the package's expression encoder."""
    from codecav.training.studio.expressions import blink_sequence, gaze_sequence, random_sequence

    rng = np.random.default_rng([identity, expression_seed, 7])
    seqs = [random_sequence(300, rng), blink_sequence(40, rng), gaze_sequence(40, rng)]
    arkit = np.concatenate([s.weights for s in seqs]).astype(np.float32)
    return expression_codes(package, arkit)


def clip_codes(package: AvatarPackage) -> np.ndarray:
    """float32 [N, D] codes of every shipped speech clip (ARKit-52 at 30 frames/s) through the expression encoder."""
    arkit = [np.load(path) for path in sorted(CLIPS_DIR.glob("*/expressions.npy"))]
    return expression_codes(package, np.concatenate(arkit).astype(np.float32))


def uv_sensitivity(package: AvatarPackage, codes: np.ndarray, decoder: OnnxNeuralDecoder, bases: int = 4
                   ) -> np.ndarray:
    """float64 [D]: RMS over texels and `bases` codes of d(UV colour in [0, 1]) / d(code entry)."""
    spread = np.maximum(codes.std(axis=0), 1e-6)
    picks = codes[np.linspace(0, len(codes) - 1, bases).astype(int)]
    fm = package.manifest.feature_map
    uv = texel_uv(fm.height, fm.width)
    view = np.broadcast_to(FRONT, (uv.shape[0], 3))

    def colour(code: np.ndarray) -> np.ndarray:
        features = decoder.decode(code.astype(np.float32), FRONT).features.reshape(-1, fm.channels)
        return run_pixel_mlp(package.pixel_mlp, features, view, uv)

    total = np.zeros(codes.shape[1])
    for base in picks:
        ref = colour(base)
        for i in range(codes.shape[1]):
            h = 0.05 * spread[i]
            moved = base.copy()
            moved[i] += h
            total[i] += float(np.mean((colour(moved) - ref) ** 2)) / h**2
    return np.sqrt(total / len(picks))


class CodeRenderer:
    """Renders codes of one avatar through the GLSL path into a frontal close-up (RENDER_SIZE square)."""

    def __init__(self, package: AvatarPackage) -> None:
        self.decoder = OnnxNeuralDecoder(package.decoder_onnx, threads=1)
        geometry = self.decoder.decode(np.zeros(package.manifest.latent.dim, np.float32), FRONT).geometry
        lo, hi = geometry.min(axis=0), geometry.max(axis=0)
        centre = (lo + hi) / 2
        extent = float(np.max(hi - lo))
        fovy = 30.0
        distance = 0.6 * extent / math.tan(math.radians(fovy / 2)) + float(hi[2] - centre[2])
        eye = centre + np.array([0.0, 0.0, distance])
        view = View(look_at(eye, centre), perspective(fovy, 1.0, 0.05, 10.0).astype(np.float32), RENDER_SIZE,
                    RENDER_SIZE)
        self.target = HeadlessTarget([view])
        self.renderer = PicaRenderer(self.target.ctx, PicaOptions(background=(0.1, 0.1, 0.1)))
        self.handle = self.renderer.add_avatar(package.mesh, package.pixel_mlp, package.manifest.feature_map)

    def render(self, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 [H, W, 3] image, bool [H, W] head mask) of `code` seen from the front."""
        self.renderer.update(self.handle, self.decoder.decode(np.asarray(code, np.float32), FRONT))
        (eye,) = self.target.begin_frame()
        self.renderer.render(eye, [AvatarDraw(self.handle, np.eye(4, dtype=np.float32))])
        self.target.present()
        return self.target.read_rgb(0), self.target.read_depth(0) < 1.0

    def close(self) -> None:
        """Release the GL objects."""
        self.renderer.release()
        self.target.close()
        self.target.ctx.release()


def render_psnr(renderer: CodeRenderer, floats: list[tuple[np.ndarray, np.ndarray]], codes: np.ndarray
                ) -> tuple[float, float]:
    """(pooled, worst-frame) head-region PSNR of renders of `codes` against the float renders `floats`."""
    total_err, total_px, worst = 0.0, 0, math.inf
    for (ref, mask), code in zip(floats, codes, strict=True):
        img, covered = renderer.render(code)
        union = mask | covered
        err = float(np.sum((img[union].astype(np.float64) - ref[union]) ** 2))
        px = int(union.sum()) * 3
        total_err += err
        total_px += px
        worst = min(worst, _psnr(err / max(px, 1)))
    return _psnr(total_err / max(total_px, 1)), worst


def _psnr(mse: float) -> float:
    return 99.0 if mse <= 1e-12 else 10.0 * math.log10(255.0**2 / mse)


def quantized(table: CodeQuantTable, codes: np.ndarray) -> np.ndarray:
    """float32 [N, D]: `codes` as a v2 receiver gets them (table round trip)."""
    return np.stack([table.dequantize(table.quantize(c)) for c in codes])


def learn_quant_table(package: AvatarPackage, codes: np.ndarray, *, target_db: float = TARGET_PSNR_DB,
                      render_frames: int = 40, progress: Callable[[str], None] | None = None
                      ) -> tuple[CodeQuantTable, TableReport]:
    """A quant table for `package` from its codes `codes` [N, D] whose renders reach `target_db` on them."""
    say = progress or (lambda text: None)
    renderer = CodeRenderer(package)
    try:
        sens = np.maximum(uv_sensitivity(package, codes, renderer.decoder), 1e-9)
        dim = codes.shape[1]
        center = codes.mean(axis=0).astype(np.float32)
        span = np.maximum(codes.max(axis=0) - codes.min(axis=0), 1e-6)
        base = math.sqrt(12 * 10 ** (-target_db / 10) / dim) / sens  # the equal-distortion design at target_db
        picks = codes[np.linspace(0, len(codes) - 1, render_frames).astype(int)]
        floats = [renderer.render(c) for c in picks]
        tried: dict[float, tuple[CodeQuantTable, float, float]] = {}

        def attempt(log_factor: float) -> float:
            step = np.clip(base * 2.0**log_factor, 2.0**-20, 2 * span).astype(np.float32)
            table = CodeQuantTable(step=step, center=center)
            pooled, worst = render_psnr(renderer, floats, quantized(table, picks))
            say(f"steps x {2.0**log_factor:.3f}: PSNR {pooled:.2f} dB (worst frame {worst:.2f})")
            tried[log_factor] = (table, pooled, worst)
            return pooled

        # Bracket the largest global factor that still reaches target_db, then bisect it (in log2 steps).
        lo, hi = 0.0, 0.0
        if attempt(0.0) >= target_db:
            while hi < 6 and attempt(hi + 1.0) >= target_db:
                hi += 1.0
            lo, hi = hi, hi + 1.0
        else:
            while lo > -12 and attempt(lo - 1.0) < target_db:
                lo -= 1.0
            lo, hi = lo - 1.0, lo
        for _ in range(5):
            mid = (lo + hi) / 2
            if attempt(mid) >= target_db:
                lo = mid
            else:
                hi = mid
        table, pooled, worst = tried[lo] if lo in tried else tried[min(tried)]
    finally:
        renderer.close()
    bits = float(np.mean(np.log2(np.maximum(span / table.step, 1.0))))
    return table, TableReport(pooled, worst, render_frames, bits)


def evaluate_table(package: AvatarPackage, codes: np.ndarray, table: CodeQuantTable | None = None) -> TableReport:
    """PSNR of renders of `codes` [N, D] through `table` (default the package's) against the float renders."""
    table = table if table is not None else package.quant_table
    if table is None:
        raise ValueError(f"{package.source}: has no quant table (format v2 member quant_table.npz)")
    renderer = CodeRenderer(package)
    try:
        floats = [renderer.render(c) for c in codes]
        pooled, worst = render_psnr(renderer, floats, quantized(table, codes))
    finally:
        renderer.close()
    span = np.maximum(codes.max(axis=0) - codes.min(axis=0), 1e-6)
    return TableReport(pooled, worst, len(codes), float(np.mean(np.log2(np.maximum(span / table.step, 1.0)))))


def heldout_codes(package: AvatarPackage, identity: int, frames: int = 48) -> np.ndarray:
    """float32 [frames, D] held-out codes: evenly spaced over expression seed 1000's recipe and the speech clips."""
    pool = np.concatenate([studio_codes(package, identity, 1000), clip_codes(package)])
    return pool[np.linspace(0, len(pool) - 1, frames).astype(int)]
