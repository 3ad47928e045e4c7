"""How good VP8 can get on the call benchmark's renders at any bitrate, against the avatar path's quality: whether
`benchmarks/call.py`'s "VP8 bitrate at equal PSNR" exists at all.

    .venv/bin/python benchmarks/vp8_ceiling.py --json [--frames 60]

Renders the first --frames frames of `benchmarks/call.py`'s sender (ada's speech codes, 640x480, as `codecav
call` shows them) from the float codes and from the codes after a wire v2 round trip (no loss). Prints exactly:
- `avatar_psnr_db`, `avatar_luma_psnr_db`: the v2 renders against the float renders, RGB and luma (BT.601 Y);
- `yuv420_roundtrip_psnr_db`: the float renders converted to yuv420p (what VP8 codes) and back, no coding at all;
- `vp8_trials`: per target bitrate, [kbit/s produced, RGB PSNR, luma PSNR] of libvpx VP8 in real time with the
  denoiser off and the quantizer free (qmin 0, qmax 63), i.e. VP8 given every chance to spend bits;
- `vp8_best_psnr_db`, `vp8_best_luma_psnr_db`: the best of those.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import call  # noqa: E402
from vp8_baseline import encode_clip_free, luma_psnr, psnr  # noqa: E402

from codecav.net.wire.frames_v2 import LatentStreamDecoder, LatentStreamEncoder  # noqa: E402

TARGETS_BPS = (300_000, 700_000, 1_500_000, 3_000_000, 8_000_000)


def renders(count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Float-code renders and wire-v2 renders of the call benchmark's first `count` frames."""
    avatar = str(call.ADA)  # call.py's default sender
    package = call.sender_package(argparse.Namespace(avatar=avatar))
    layout = package.manifest.latent
    if package.quant_table is None:
        raise SystemExit(f"vp8_ceiling: {avatar} has no quant table for wire v2")
    source = call.SyntheticLatentSource(layout, fps=call.FPS, seed=call.SOURCE_SEED)
    codes = call.clip_codes(package)
    encoder = LatentStreamEncoder(layout, package.quant_table)
    decoder = LatentStreamDecoder(layout, package.quant_table)
    sent = [call.sent_frame(source, codes, seq, 10**12 + int(seq * 1e6 / call.FPS)) for seq in range(count)]
    received = [decoder.decode(encoder.encode(frame)).code for frame in sent]
    frames, _ = call.render_call_view(package, [frame.code for frame in sent] + received)
    return frames[:count], frames[count:]


def measure(count: int) -> dict[str, Any]:
    reference, received = renders(count)
    roundtrip = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray(format="rgb24")
                 for f in reference]
    trials = [encode_clip_free(reference, call.FPS, bps) for bps in TARGETS_BPS]
    return {
        "avatar_psnr_db": round(psnr(reference, received), 2),
        "avatar_luma_psnr_db": round(luma_psnr(reference, received), 2),
        "yuv420_roundtrip_psnr_db": round(psnr(reference, roundtrip), 2),
        "vp8_trials": {str(bps // 1000): [round(t.kbps, 1), round(t.psnr_db, 2), round(t.luma_psnr_db, 2)]
                       for bps, t in zip(TARGETS_BPS, trials, strict=True)},
        "vp8_best_psnr_db": round(max(t.psnr_db for t in trials), 2),
        "vp8_best_luma_psnr_db": round(max(t.luma_psnr_db for t in trials), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--frames", type=int, default=60, help="frames rendered and coded (default 60)")
    args = parser.parse_args()
    result = measure(args.frames)
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
