"""Drivers: HMC encoder and audio driver time on one core, audio lookahead, lip-sync quality, and the HMC-driven
avatar's decode PSNR.

    .venv/bin/python benchmarks/drivers.py --json

Keys: hmc_encoder_ms_p50 (one frame of three 128x128 views, onnxruntime with one thread, process pinned to one
core), audio_driver_ms_per_hop (median time of pushing one 10 ms hop of 16 kHz audio through AudioDriver:
log-mel + model), audio_algorithmic_delay_ms (lookahead + half a window), lipsync_jaw_corr (Pearson correlation
of the driver's jawOpen with the phoneme-timed truth on the studio's SENTENCES spoken by espeak-ng, never
trained on), hmc_decode_psnr_db (codecav.training.drivers_eval, mean over the shipped sample avatars, each with
the HMC model of its studio identity; null with a reason when there are none), webcam_ms_p50
(benchmarks/webcam.py; null with a reason without the webcam extra).
Baselines in the same run: the HMC encoder on all cores, the log-mel front end alone, the real-time factor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.arkit import ARKIT_INDEX  # noqa: E402
from codecav.encoders.audio.driver import AudioDriver  # noqa: E402
from codecav.encoders.audio.features import HOP, LogMelStream, resample  # noqa: E402
from codecav.encoders.clip import load_clip, shipped_clip  # noqa: E402
from codecav.encoders.hmc import HmcEncoder, shipped_hmc_model  # noqa: E402


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000.0, 4)


def hmc_encoder_ms(threads: int, repeats: int) -> float:
    """Median ms of one HMC encoder call on the shipped clip's frames."""
    frames = [f.images for f in load_clip(shipped_clip(0)).hmc_frames()]
    encoder = HmcEncoder(shipped_hmc_model(0), threads=threads)
    for f in frames[:10]:
        encoder.encode(f)
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        encoder.encode(frames[i % len(frames)])
        times.append(time.perf_counter() - t)
    return _median_ms(times)


def _speech() -> list[tuple[np.ndarray, np.ndarray]]:
    """(16 kHz audio, true jawOpen at 100 Hz) of each held-out studio sentence."""
    from codecav.training.studio.expressions import SENTENCES
    from codecav.training.studio.speech import synthesize, viseme_track

    out = []
    for text in SENTENCES:
        utt = synthesize(text)
        out.append((resample(utt.audio.astype(np.float32) / 32768.0, utt.sample_rate),
                    viseme_track(utt, fps=100.0)[:, ARKIT_INDEX["jawOpen"]]))
    return out


def audio_metrics(speech: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Per-hop time, front-end time, real-time factor, lookahead and jaw correlation."""
    hop_times: list[float] = []
    front: list[float] = []
    pred_all, true_all = [], []
    delay = 0.0
    for audio, true_jaw in speech:
        driver = AudioDriver(threads=1)
        delay = driver.algorithmic_delay_ms
        samples = []
        for start in range(0, len(audio) - HOP + 1, HOP):
            t = time.perf_counter()
            samples += driver.push(audio[start:start + HOP])
            hop_times.append(time.perf_counter() - t)
        samples += driver.flush()
        stream = LogMelStream()
        for start in range(0, len(audio) - HOP + 1, HOP):
            t = time.perf_counter()
            stream.push(audio[start:start + HOP])
            front.append(time.perf_counter() - t)
        times = np.array([s.capture_time_us for s in samples])
        pred_all.append(np.array([s.weights[ARKIT_INDEX["jawOpen"]] for s in samples]))
        true_all.append(true_jaw[np.clip(np.round(times / 10_000).astype(int), 0, len(true_jaw) - 1)])
    per_hop = _median_ms(hop_times)
    return {"audio_driver_ms_per_hop": per_hop, "audio_driver_ms_per_hop_p95": round(
        float(np.percentile(hop_times, 95)) * 1000, 4), "audio_logmel_ms_per_hop": _median_ms(front),
        "audio_realtime_factor": round(per_hop / 10.0, 4), "audio_algorithmic_delay_ms": delay,
        "lipsync_jaw_corr": round(float(np.corrcoef(np.concatenate(pred_all), np.concatenate(true_all))[0, 1]), 4)}


def hmc_decode(frames: int) -> dict[str, Any]:
    """hmc_decode_psnr_db: mean over the shipped sample avatars that have an HMC model for their identity (each
    also reported), or null with the reason."""
    try:
        from codecav.assets.samples import sample_avatar_paths
        from codecav.training.drivers_eval import hmc_decode_psnr, sample_identity
    except ImportError as exc:
        return {"hmc_decode_psnr_db": None, "hmc_decode_note": f"unavailable: {exc}"}
    out: dict[str, Any] = {}
    scores, refs = [], []
    for path in sample_avatar_paths():
        identity = sample_identity(path)
        if identity is None or not shipped_hmc_model(identity).is_file():
            continue
        score = hmc_decode_psnr(path, identity, shipped_hmc_model(identity), frames=frames)
        name = path.name.removesuffix(".cavatar")
        out[f"hmc_decode_psnr_db_{name}"] = round(score.psnr_db, 3)
        out[f"hmc_decode_reference_psnr_db_{name}"] = round(score.reference_psnr_db, 3)
        out[f"hmc_weight_mae_{name}"] = round(score.weight_mae, 4)
        scores.append(score.psnr_db)
        refs.append(score.reference_psnr_db)
    if not scores:
        return {"hmc_decode_psnr_db": None, "hmc_decode_note": "no sample avatar with an HMC model"}
    return {"hmc_decode_psnr_db": round(float(np.mean(scores)), 3),
            "hmc_decode_reference_psnr_db": round(float(np.mean(refs)), 3), "hmc_decode_frames": frames} | out


def webcam(frames: int) -> dict[str, Any]:
    """webcam_ms_p50 from benchmarks/webcam.py (the webcam helper's measurement), or null with the reason."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from webcam import measure_webcam_ms_p50

        return {"webcam_ms_p50": round(float(measure_webcam_ms_p50(frames)), 3)}
    except Exception as exc:  # no webcam extra, no media: say why
        return {"webcam_ms_p50": None, "webcam_note": " ".join(str(exc).split())[:160]}


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print them (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--psnr-frames", type=int, default=8)
    parser.add_argument("--skip-psnr", action="store_true")
    parser.add_argument("--skip-webcam", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"hmc_encoder_ms_p50_all_cores": hmc_encoder_ms(os.cpu_count() or 1, args.repeats)}
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    result["hmc_encoder_ms_p50"] = hmc_encoder_ms(1, args.repeats)
    result |= audio_metrics(_speech())
    result |= {"hmc_decode_psnr_db": None, "hmc_decode_note": "skipped"} if args.skip_psnr else \
        hmc_decode(args.psnr_frames)
    result |= {"webcam_ms_p50": None, "webcam_note": "skipped"} if args.skip_webcam else webcam(100)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["cpu_count"] = os.cpu_count()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:36s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
