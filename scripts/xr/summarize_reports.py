"""Print one line per OpenXR session report written by tests/xr_openxr (run by run_tests.sh on the host)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    for path in sorted(Path(sys.argv[1]).glob("*/session_*.json")):
        r = json.loads(path.read_text())
        print(f"codecav test-xr: {r['graphics']} {r['scene']}: session up in {r['created_s']:.2f} s, "
              f"{r['timing_summary']}, close {r['close_s']:.2f} s")


if __name__ == "__main__":
    main()
