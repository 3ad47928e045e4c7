"""The shipped sample avatars: PiCA avatars trained on studio captures of the ICT head's identities 0 and 1 (lee,
lee-shape1: the ICT-FaceKit rig in Lee Perry-Smith's scanned skin, CC BY 3.0) with a DAM baseline of lee-shape1, each
a .cavatar beside this file; `codecav demo` casts lee and lee-shape1. How each was made (command, data, seed, wall
time, measured quality, attribution) is in TRAINING.md here and in every package's provenance. The MakeHuman samples
(ada, ben, chiara, ada's DAM baseline) were retired in session 11 (TRAINING.md, "Retired samples")."""

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


DEMO_PAIR: tuple[str, str] = ("lee", "lee-shape1")
"""The two samples `codecav demo` casts (unless given --avatars): the first is alice's, the second bob's."""


def demo_sample_paths() -> list[Path]:
    """The DEMO_PAIR samples that ship here, then the other PiCA samples in name order."""
    paths = sample_avatar_paths()
    first = [p for name in DEMO_PAIR for p in paths if p.name == f"{name}.cavatar"]
    return first + [p for p in paths if p not in first]


def baseline_of(path: Path) -> Path | None:
    """The DAM baseline shipped beside the sample `path`, or None."""
    candidate = path.with_name(path.name[: -len(".cavatar")] + BASELINE_SUFFIX + ".cavatar")
    return candidate if candidate.is_file() else None
