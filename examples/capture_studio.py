"""Render a synthetic multi-view capture of a studio head in the Multiface layout (training data).

Run: python examples/capture_studio.py          (writes out/examples/capture_identity0, quick preset)

CODECAV_EXAMPLE_SMOKE=1 makes a tiny capture; CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from codecav.training.multiface import read_capture
from codecav.training.studio.capture import capture_identity


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out_dir = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples")) / "capture_identity0"
    summary = capture_identity(0, out_dir, preset="quick", frames=2 if smoke else None)
    capture = read_capture(out_dir)
    print(f"wrote {summary.frames} frames x {summary.cameras} cameras of {summary.name} to {out_dir} "
          f"in {summary.seconds:.1f} s; read back {len(capture.frames)} frames, first camera {capture.cameras[0].name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
