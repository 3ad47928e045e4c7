"""What the demo's cast costs: clean two-process demo calls of the shipped ICT pair (lee, lee-shape1: `codecav
demo`'s cast) and of the light MakeHuman pair the samples used to be (ada, ben: now test fixtures,
tests/assets/makehuman), back to back, so the ratio is taken on the same machine state.

    .venv/bin/python benchmarks/demo_cast.py --json [--seconds 20] [--rounds 2]

Each round runs the demo's own call (`run_call_demo`, as `codecav demo --avatars ALICE BOB`) once per cast, with
the avatars cached after the first round. Prints one JSON object: per cast, per round, the means over both
participants of `capture_to_photon_ms_p50`, `mouth_to_ear_ms_p50` and `rendered_fps`, the stages
`render_ms_p50` and `present_ms_p50`; and `capture_to_photon_ratio_ict_over_makehuman` per round.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.samples import demo_sample_paths  # noqa: E402
from codecav.runtime.call_demo import run_call_demo  # noqa: E402
from tests.assets.makehuman import ADA, BEN  # noqa: E402

CASTS: dict[str, list[Path]] = {"makehuman": [ADA, BEN], "ict": demo_sample_paths()[:2]}
"""The pairs compared: the light MakeHuman fixtures and the demo's own shipped pair."""

PEER_COMMAND = (sys.executable, "-m", "codecav.cli.demo_peer")


def one_call(cast: str, seconds: float, cache: Path) -> dict[str, float]:
    """A clean demo call of CASTS[cast]; the figures of its report.json."""
    with tempfile.TemporaryDirectory(prefix="codecav-cast-") as tmp:
        for line in run_call_demo(Path(tmp), seconds=seconds, peer_command=PEER_COMMAND, cache_root=cache,
                                  avatars=CASTS[cast]):
            print(line, file=sys.stderr, flush=True)
        report = json.loads((Path(tmp) / "report.json").read_text())
    peers, stages = report["peers"], report["stages"]
    fps = report.get("extra", {}).get("rendered_fps", {})

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 1)

    return {"capture_to_photon_ms_p50": mean([p["capture_to_photon_ms"]["p50"] for p in peers]),
            "mouth_to_ear_ms_p50": mean([p["mouth_to_ear_ms"]["p50"] for p in peers]),
            "render_ms_p50": round(stages["render"]["p50"], 1), "present_ms_p50": round(stages["present"]["p50"], 1),
            "rendered_fps": mean(list(fps.values())) if fps else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the JSON object (always printed)")
    args = parser.parse_args()
    results: dict[str, Any] = {name: [] for name in CASTS}
    with tempfile.TemporaryDirectory(prefix="codecav-cast-cache-") as caches:
        for _ in range(args.rounds):
            for name in CASTS:
                results[name].append(one_call(name, args.seconds, Path(caches) / name))
    results["capture_to_photon_ratio_ict_over_makehuman"] = [
        round(ict["capture_to_photon_ms_p50"] / mh["capture_to_photon_ms_p50"], 2)
        for ict, mh in zip(results["ict"], results["makehuman"], strict=True)]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
