"""`codecav demo`: the main job. Until the two-party call demo lands (issue 6/6), it writes the sample
avatars as packages, verifies them, and renders them headless into PNGs under the output folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from codecav.assets.inspect import verify_summary
from codecav.assets.writer import write_avatar
from codecav.runtime.render_command import RenderRequest, render_to_png, sample_avatars


def run_demo(out_dir: Path) -> Iterator[str]:
    """Run the demo, yielding one progress line at a time; the last lines say where results are."""
    out_dir.mkdir(parents=True, exist_ok=True)
    yield "codecav demo: no trained sample avatars ship yet; using random-weight plumbing avatars (untrained)"
    paths = []
    for package in sample_avatars():
        path = write_avatar(package, out_dir / "avatars" / f"{package.manifest.avatar_id}.cavatar")
        yield f"  {verify_summary(path)}"
        paths.append(path)
    results = []
    for name, count, stereo in (("demo.png", 3, False), ("demo_five_stereo.png", 5, True)):
        request = RenderRequest(avatar_paths=paths, count=count, width=512, height=384, stereo=stereo,
                                renderer="pica", out=out_dir / name)
        result = render_to_png(request)
        results.append(result)
        yield (f"  rendered {count} avatar(s){' in stereo' if stereo else ''}: {result.frame_ms:.0f} ms/frame, "
               f"{result.covered_fraction:.0%} of pixels covered, on {result.gl_renderer}")
    summary = [{**asdict(r), "path": str(r.path)} for r in results]
    (out_dir / "render.json").write_text(json.dumps(summary, indent=2) + "\n")
    for r in results:
        yield f"wrote {r.path}"
    yield f"wrote {out_dir / 'render.json'}"
