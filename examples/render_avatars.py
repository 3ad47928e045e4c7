"""Render avatar instances headless into a PNG through the PiCA per-pixel GL pass.

Run: python examples/render_avatars.py            (writes out/examples/render_avatars.png)
     python examples/render_avatars.py my.cavatar  (your own avatar package)

CODECAV_EXAMPLE_SMOKE=1 renders small and fast; CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from codecav.runtime.render_command import RenderRequest, render_to_png


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples"))
    size = (160, 120) if smoke else (768, 512)
    request = RenderRequest(
        avatar_paths=[Path(p) for p in sys.argv[1:]],
        count=3,
        width=size[0],
        height=size[1],
        stereo=False,
        renderer="pica",
        out=out_dir / "render_avatars.png",
    )
    result = render_to_png(request)
    print(f"wrote {result.path}: {result.avatars} avatars, {result.covered_fraction:.0%} covered, "
          f"{result.frame_ms:.1f} ms/frame on {result.gl_renderer}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
