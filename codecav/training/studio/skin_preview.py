"""A contact sheet of the ICT head in the scanned skin: a few expressions seen from a few directions.

    .venv/bin/python -m codecav.training.studio.skin_preview docs/ict_scan_head.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.training.studio.render import create_context
from codecav.training.studio.rig import Camera, RigConfig, _look_at_extrinsics, make_rig
from codecav.training.studio.skin_render import make_skin_renderer

__all__ = ["PREVIEW_EXPRESSIONS", "PREVIEW_VIEWS", "render_preview", "view_camera"]

PREVIEW_EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4},
    "jawOpen": {"jawOpen": 0.7, "browInnerUp": 0.3},
    "blink + brows": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0, "browDownLeft": 0.6, "browDownRight": 0.6},
}
"""Rows of the sheet: ARKit weights by name."""

PREVIEW_VIEWS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (35.0, 10.0), (-60.0, -5.0))
"""Columns of the sheet: (yaw, elevation) in degrees; positive yaw looks from the avatar's left."""


def view_camera(yaw_deg: float, elevation_deg: float, width: int, height: int) -> Camera:
    """A studio camera (the rig's focal length and distance) at the given yaw and elevation."""
    cfg = RigConfig(num_cameras=1, width=width, height=height)
    base = make_rig(cfg)[0]
    yaw, elev = np.radians(yaw_deg), np.radians(elevation_deg)
    direction = np.array([np.cos(elev) * np.sin(yaw), np.sin(elev), np.cos(elev) * np.cos(yaw)])
    target = np.asarray(cfg.target, dtype=np.float64)
    return Camera(
        name=base.name, intrinsics=base.intrinsics, distortion=base.distortion,
        extrinsics=_look_at_extrinsics(target + cfg.distance * direction, target), width=width, height=height,
    )


def arkit_weights(named: dict[str, float]) -> np.ndarray:
    """float32 [52] from ARKit weights by name."""
    w = np.zeros(len(ARKIT_52), np.float32)
    for name, value in named.items():
        w[ARKIT_INDEX[name]] = value
    return w


def render_preview(ctx: moderngl.Context, width: int = 334, height: int = 512) -> np.ndarray:
    """uint8 [rows * height, cols * width, 3]: PREVIEW_EXPRESSIONS x PREVIEW_VIEWS."""
    model, renderer = make_skin_renderer(ctx, width, height, 256)
    cameras = [view_camera(yaw, elev, width, height) for yaw, elev in PREVIEW_VIEWS]
    rows = []
    for named in PREVIEW_EXPRESSIONS.values():
        renderer.set_positions(model.posed(arkit_weights(named)))
        rows.append(np.concatenate([renderer.render(c, unwrap=False).image for c in cameras], axis=1))
    renderer.release()
    return np.concatenate(rows, axis=0)


def main() -> None:
    """Render the sheet into the PNG named on the command line."""
    parser = argparse.ArgumentParser(description="ICT head in the scanned skin: expressions x views")
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=512, help="image height of one view")
    args = parser.parse_args()
    ctx = create_context()
    sheet = render_preview(ctx, width=int(args.size * 334 / 512), height=args.size)
    Image.fromarray(sheet).save(args.out, optimize=True)


if __name__ == "__main__":
    main()
