"""The shipped sample avatars: PiCA avatars trained on studio captures of the MakeHuman head's identities 0, 1, 2
(ada, ben, chiara), a DAM baseline of ada, and lee (the ICT rig in Lee Perry-Smith's scanned skin, CC BY 3.0),
each a .cavatar beside this file. How each was made (command, data, seed, wall time, measured quality,
attribution) is in TRAINING.md here and in every package's provenance."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
"""Directory holding the sample .cavatar files."""

BASELINE_SUFFIX = "-dam"
"""File-name suffix (before .cavatar) of DAM baseline packages."""


def sample_avatar_paths(*, include_baselines: bool = False) -> list[Path]:
    """The shipped PiCA sample packages in name order (with `include_baselines`, the DAM ones too)."""
    paths = sorted(SAMPLES_DIR.glob("*.cavatar"))
    if include_baselines:
        return paths
    return [p for p in paths if not p.name[: -len(".cavatar")].endswith(BASELINE_SUFFIX)]


def baseline_of(path: Path) -> Path | None:
    """The DAM baseline shipped beside the sample `path`, or None."""
    candidate = path.with_name(path.name[: -len(".cavatar")] + BASELINE_SUFFIX + ".cavatar")
    return candidate if candidate.is_file() else None
