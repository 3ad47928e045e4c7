"""Where a sample's held-out error is (issue 17): the share of squared error on the eyes and on the silhouette, on a
fresh quick capture of the sample's identity, and the PSNR without them.

    .venv/bin/python benchmarks/error_regions.py --json [--avatar PATH] [--heatmaps DIR]

Renders what `codecav avatar eval --quick` renders (the expression encoder on the capture's ARKit weights, the ONNX
decoder, PicaRenderer on llvmpipe, each held-out set's frames and cameras) and, per camera, averages the per-pixel
squared error over the frames. Regions, per camera, from the captured image: the head (pixels that are not the
studio background); the eyes (head pixels darker than 0.6 of the median luminance of the band from 30 to 50 % of
the head's height, in that band, grown by 2 px: irises, pupils, lash lines); the silhouette (head pixels within
2 px of the background: neither side is antialiased, so a sub-pixel difference of outline flips whole pixels).
Prints per set and camera:
`psnr_db` (head pixels, as eval's `psnr_*` on this camera), `eye_pixels_pct`, `eye_error_pct`,
`edge_pixels_pct`, `edge_error_pct`, `psnr_without_eyes_db`, `psnr_without_eyes_edge_db`. --heatmaps writes, per
camera, the last frame's capture, render and error (sqrt of the mean squared error, x8) side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.loader import load_avatar  # noqa: E402
from codecav.training.evaluate import BACKGROUND_8BIT, held_out_renders  # noqa: E402
from codecav.training.multiface import MultifaceCapture, read_capture  # noqa: E402
from codecav.training.studio.capture import capture_identity  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "codecav" / "assets" / "samples"
QUICK_SEED = 1000
"""Expression seed of the fresh capture, as `codecav avatar eval --quick`."""
LUMA = np.array([0.299, 0.587, 0.114])
EYE_DARKNESS = 0.6
"""Eye pixels are darker than this fraction of the median luminance of the head in the eye band (irises, pupils,
lash lines and the gaps between the lids, on light and dark skin alike)."""


def grow(mask: np.ndarray, steps: int) -> np.ndarray:
    """`mask` dilated by `steps` pixels (4-neighbourhood)."""
    for _ in range(steps):
        p = np.pad(mask, 1)
        mask = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    return mask


def regions(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, eyes, silhouette) boolean masks of a captured image."""
    head = np.abs(truth.astype(int) - BACKGROUND_8BIT).sum(axis=2) > 0
    rows = np.where(head.any(axis=1))[0]
    top, bottom = int(rows.min()), int(rows.max())
    band = np.zeros_like(head)
    band[int(top + 0.30 * (bottom - top)):int(top + 0.50 * (bottom - top))] = True
    luma = truth.astype(float) @ LUMA
    dark = luma < EYE_DARKNESS * float(np.median(luma[head & band]))
    eyes = grow(dark & head & band, 2) & head
    edge = head & grow(~head, 2)  # head pixels within 2 px of the background
    return head, eyes, edge


def psnr_of(mse: float) -> float:
    return round(float(10 * np.log10(255.0**2 / mse)), 2) if mse > 0 else float("inf")


def measure(avatar: Path, capture: MultifaceCapture, heatmaps: Path | None) -> dict[str, Any]:
    """The figures per held-out set and camera (see the module docstring)."""
    sums: dict[tuple[str, str], list[Any]] = {}  # (set, camera) -> [error sum, count, last render, last truth]
    for image in held_out_renders(load_avatar(avatar), capture, 12, 4):
        error = ((image.rendered.astype(float) - image.truth.astype(float)) ** 2).mean(axis=2)
        entry = sums.setdefault((image.set_name, image.camera), [np.zeros_like(error), 0, None, None])
        entry[0] += error
        entry[1] += 1
        entry[2], entry[3] = image.rendered, image.truth
    out: dict[str, Any] = {}
    for (set_name, cam_name), (total_error, count, rendered, truth) in sums.items():
        error = total_error / count
        head, eyes, edge = regions(truth)
        total = float(error[head].sum())
        out[f"{set_name}/{cam_name}"] = {
            "psnr_db": psnr_of(float(error[head].mean())),
            "eye_pixels_pct": round(100 * eyes.sum() / head.sum(), 1),
            "eye_error_pct": round(100 * float(error[eyes].sum()) / total, 1),
            "edge_pixels_pct": round(100 * edge.sum() / head.sum(), 1),
            "edge_error_pct": round(100 * float(error[edge].sum()) / total, 1),
            "psnr_without_eyes_db": psnr_of(float(error[head & ~eyes].mean())),
            "psnr_without_eyes_edge_db": psnr_of(float(error[head & ~eyes & ~edge].mean())),
        }
        if heatmaps is not None:
            from PIL import Image

            heat = np.clip(np.sqrt(error) * 8, 0, 255).astype(np.uint8)
            heatmaps.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate([truth, rendered, np.stack([heat] * 3, axis=2)], axis=1)).save(
                heatmaps / f"{set_name}_{cam_name}.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--avatar", default=str(SAMPLES / "lee.cavatar"),
                        help="a trained sample with a studio identity in its provenance (default: lee)")
    parser.add_argument("--heatmaps", help="folder for per-camera capture | render | error images")
    args = parser.parse_args()
    package = load_avatar(args.avatar)
    data = package.manifest.provenance.get("data", {})
    identity = data.get("identity", {})
    if "index" not in identity:
        raise SystemExit(f"error_regions: {args.avatar} names no studio identity in its provenance; "
                         "use a trained sample")
    with tempfile.TemporaryDirectory(prefix="codecav-regions-") as tmp:
        capture_identity(int(identity["index"]), Path(tmp) / "quick", preset="quick", seed=int(identity.get("seed", 0)),
                         expression_seed=QUICK_SEED,
                         head_source=str(data.get("capture_config", {}).get("head_source", "makehuman")))
        result = measure(Path(args.avatar), read_capture(Path(tmp) / "quick"),
                         Path(args.heatmaps) if args.heatmaps else None)
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
