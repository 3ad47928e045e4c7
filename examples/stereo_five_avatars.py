"""Five avatars in one stereo scene (PiCA's headline case), rendered headless, eyes side by side.

Run: python examples/stereo_five_avatars.py    (writes out/examples/stereo_five_avatars.png)

CODECAV_EXAMPLE_SMOKE=1 renders small and fast; CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from codecav.runtime.render_command import RenderRequest, render_to_png


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples"))
    width, height = (128, 96) if smoke else (640, 480)
    request = RenderRequest(avatar_paths=[], count=5, width=width, height=height, stereo=True, renderer="pica",
                            out=out_dir / "stereo_five_avatars.png")
    result = render_to_png(request)
    print(f"wrote {result.path} ({result.width}x{result.height}), {result.frame_ms:.1f} ms per stereo frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
