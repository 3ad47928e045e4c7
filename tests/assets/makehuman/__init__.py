"""Two light avatars for tests that need a small trained one: ada and ben, PiCA avatars of the MakeHuman studio head's
identities 0 and 1 (synthetic skin painted from UV masks; 4,817 vertices, 2.9 MB each). They shipped as samples until
session 11, when the ICT samples in Lee Perry-Smith's scanned skin replaced them (issue 17); how they were made is in
`codecav/assets/samples/TRAINING.md` as of commit 9fa0e98. The shipped HMC models were trained on these identities'
studio HMC images, so they are the avatars the HMC driver's end-to-end tests drive."""

from __future__ import annotations

from pathlib import Path

MAKEHUMAN_DIR = Path(__file__).resolve().parent
"""Directory holding the fixture packages (also served as a site's samples directory in the browser tests)."""
ADA = MAKEHUMAN_DIR / "ada.cavatar"
"""MakeHuman identity 0."""
BEN = MAKEHUMAN_DIR / "ben.cavatar"
"""MakeHuman identity 1."""
