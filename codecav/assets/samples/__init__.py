"""The shipped sample avatars: PiCA avatars trained on studio captures of the MakeHuman head's identities 0, 1, 2
(ada, ben, chiara) with a DAM baseline of ada, and of the ICT head's identities 0 and 1 (lee, lee-shape1: the
ICT-FaceKit rig in Lee Perry-Smith's scanned skin, CC BY 3.0) with a DAM baseline of lee-shape1, each a .cavatar
beside this file; `codecav demo --cast ict` casts lee and lee-shape1. How each was made (command, data, seed, wall time,
measured quality, attribution) is in TRAINING.md here and in every package's provenance."""

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


DEMO_CASTS: dict[str, tuple[str, str]] = {"makehuman": ("ada", "ben"), "ict": ("lee", "lee-shape1")}
"""The pairs `codecav demo --cast NAME` casts. 'makehuman' (the default) fits issue 12's latency goals on a 2-core
machine without a GPU; 'ict' (the ICT rig in the scanned skin) looks real but has 4x the triangles and covers 1.5x
the pixels, so on llvmpipe it adds ~20-35 ms of capture-to-photon (benchmarks/RESULTS.md, session 9)."""
DEFAULT_DEMO_CAST = "makehuman"
"""The cast of `make demo`."""


def demo_sample_paths(cast: str = DEFAULT_DEMO_CAST) -> list[Path]:
    """The pair of DEMO_CASTS[cast] that ships here, then the other PiCA samples in name order; KeyError for a
    cast not in DEMO_CASTS."""
    paths = sample_avatar_paths()
    first = [p for name in DEMO_CASTS[cast] for p in paths if p.name == f"{name}.cavatar"]
    return first + [p for p in paths if p not in first]


def baseline_of(path: Path) -> Path | None:
    """The DAM baseline shipped beside the sample `path`, or None."""
    candidate = path.with_name(path.name[: -len(".cavatar")] + BASELINE_SUFFIX + ".cavatar")
    return candidate if candidate.is_file() else None
