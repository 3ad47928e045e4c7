"""Drivers: HMC encoder and audio driver time on one core, audio lookahead, lip-sync quality, and the HMC-driven
avatar's decode PSNR.

    .venv/bin/python benchmarks/drivers.py --json

Keys: hmc_encoder_ms_p50 (one frame of three 128x128 views, onnxruntime with one thread, process pinned to one
core), audio_driver_ms_per_hop (median time of pushing one 10 ms hop of 16 kHz audio through AudioDriver:
log-mel + model), audio_algorithmic_delay_ms (lookahead + half a window), lipsync_jaw_corr (Pearson correlation
of the driver's jawOpen with the phoneme-timed truth on the studio's SENTENCES spoken by espeak-ng, never
trained on), lipsync_jaw_corr_real (real recorded speech, never trained on: a face video with its sound track,
by default benchmarks/media/obama_weekly_address_sentences.mp4, 27 s of public-domain White House Weekly Address
sentences, see its NOTICE.md; baseline in the same run: lipsync_real_loudness_corr, the same correlation for the
sound's loudness (RMS over 50 ms) in place of the audio driver, and references for how far the sound can
follow the face at all: lipsync_real_lipgap_* correlate the inner lips' gap (MediaPipe landmarks 13-14 over
forehead-to-chin 10-152, the visible opening) with the audio driver's jawOpen, with the loudness and with the
webcam's jawOpen; lipsync_real_mouth_lead_ms is the shift of the sound (-300..300 ms, positive: the mouth first)
that best lines its loudness up with the lips' gap, lipsync_real_lipgap_loudness_corr_at_lead the correlation
there, the most any sound envelope agrees with this mouth; lipsync_real_pause_jaw is the audio driver's mean
jawOpen over the frames where the sound is below -40 dBFS (pauses), beside the webcam's, lipsync_real_pause_webcam_jaw;
lipsync_jaw_corr_real itself is the Pearson correlation, over the video frames where
the webcam driver finds a face, of the audio driver's jawOpen from the video's sound track (imageio-ffmpeg extracts
it as 16 kHz mono; the driver's samples interpolated to each frame's presentation time) with the jawOpen the webcam
driver reads from the same video's frames (calibrated and smoothed, as it drives an avatar); null with the reason
when the video has no sound track, no face, or either jawOpen barely moves; --real-speech PATH picks another
video; --audio-model PATH measures another audio driver ONNX, e.g. the one before a change, as its
baseline), hmc_decode_psnr_db (codecav.training.drivers_eval, mean over the shipped sample avatars, each with
the HMC model of its studio identity; null with a reason when there are none), webcam_ms_p50
(benchmarks/webcam.py; null with a reason without the webcam extra), audio_rest_jaw_silence,
audio_rest_jaw_white_50dbfs and audio_rest_jaw_pink_50dbfs (the audio driver's mean jawOpen with nobody speaking:
digital silence, and white and pink noise at -50 dBFS; the mouth at rest is 0).
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


def audio_metrics(speech: list[tuple[np.ndarray, np.ndarray]], model: Path | None = None) -> dict[str, float]:
    """Per-hop time, front-end time, real-time factor, lookahead and jaw correlation."""
    hop_times: list[float] = []
    front: list[float] = []
    pred_all, true_all = [], []
    delay = 0.0
    for audio, true_jaw in speech:
        driver = AudioDriver(model, threads=1)
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


REAL_SPEECH_CLIP = Path(__file__).resolve().parent / "media" / "obama_weekly_address_sentences.mp4"
"""Real recorded speech with its face (public domain; media/NOTICE.md, scripts/make_speech_clip.py)."""
REAL_SPEECH_MIN_STD = 0.01
"""A jawOpen series with less spread than this (0..1) barely moves: its correlation is undefined."""
PAUSE_RMS = 0.01
"""Loudness (RMS over 50 ms, -40 dBFS) below which a video frame counts as a pause in the speech."""
LEADS_MS = np.arange(-300, 301, 10)
"""Shifts tried when finding how far the mouth leads the sound."""


def mouth_lead(video_t: np.ndarray, lip_gap_: np.ndarray, envelope_t: np.ndarray,
               envelope: np.ndarray) -> tuple[float, float]:
    """(lead in ms, correlation): the shift of the sound that best lines its loudness up with the lips' gap
    (positive: the mouth moves before the sound), and the correlation at that shift."""
    corrs = [np.corrcoef(lip_gap_, np.interp(video_t + lead / 1000, envelope_t, envelope))[0, 1]
             for lead in LEADS_MS]
    best = int(np.nanargmax(corrs))
    return float(LEADS_MS[best]), float(corrs[best])


def pink_noise(count: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [count] noise of power falling 3 dB per octave (a room's fans and hum), RMS 1."""
    spectrum = np.fft.rfft(rng.standard_normal(count))
    freqs = np.fft.rfftfreq(count)
    spectrum[1:] /= np.sqrt(freqs[1:] / freqs[1])
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, count)
    return np.asarray(noise / np.sqrt(np.mean(noise**2)))


def rest_jaw(seconds: float = 2.0, model: Path | None = None) -> dict[str, float]:
    """The audio driver's mean jawOpen with nobody speaking: digital silence, and white and pink noise 50 dB below
    full scale (a quiet room through a microphone); the first half second (the driver's start) left out."""
    rng = np.random.default_rng(0)
    count = int(seconds * 16000)
    level = 10 ** (-50 / 20)
    out = {}
    for key, audio in (("audio_rest_jaw_silence", np.zeros(count)),
                       ("audio_rest_jaw_white_50dbfs", rng.standard_normal(count) * level),
                       ("audio_rest_jaw_pink_50dbfs", pink_noise(count, rng) * level)):
        times, jaw = audio_jaw(audio.astype(np.float32), model)
        out[key] = round(float(jaw[times > 0.5].mean()), 4)
    return out


def audio_track(video: Path) -> tuple[np.ndarray, float] | None:
    """(16 kHz mono float32 audio of `video`'s sound track, its start in seconds after the first video frame), or
    None when the file has no sound track. Extracted with imageio-ffmpeg's ffmpeg."""
    import subprocess

    import av
    import imageio_ffmpeg

    with av.open(str(video)) as container:
        audio = [s for s in container.streams if s.type == "audio"]
        vstreams = [s for s in container.streams if s.type == "video"]
        if not audio:
            return None

        def start(stream: Any) -> float:
            return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0

        offset = start(audio[0]) - (start(vstreams[0]) if vstreams else 0.0)
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(video), "-map", "0:a:0",
                           "-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "-"], capture_output=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not extract {video.name}'s sound: "
                           f"{done.stderr.decode(errors='replace').strip()[-160:]}")
    return np.frombuffer(done.stdout, np.int16).astype(np.float32) / 32768.0, offset


LIP_GAP_LANDMARKS = (13, 14, 10, 152)
"""MediaPipe face-mesh landmarks: inner upper lip, inner lower lip, forehead top, chin."""


def lip_gap(landmarks: np.ndarray, image_size: tuple[int, int]) -> float:
    """The inner lips' gap over the forehead-to-chin height, in pixels of an image `image_size` (w, h): the
    mouth's visible opening, independent of the blendshape model and of the face's size in the frame."""
    upper, lower, top, chin = (landmarks[i, :2] * image_size for i in LIP_GAP_LANDMARKS)
    return float(np.linalg.norm(upper - lower) / max(float(np.linalg.norm(top - chin)), 1e-6))


def webcam_jaw(video: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(presentation times in s, jawOpen, lip_gap) of the frames of `video` where the webcam driver finds a face."""
    from codecav.encoders.webcam.source import open_webcam_source

    times, jaw, gap = [], [], []
    with open_webcam_source(f"webcam:{video}") as source:
        while (item := source.read_frame(timeout=10.0)) is not None:
            if item.observation is not None:
                times.append(item.time_s)
                jaw.append(float(item.sample.weights[ARKIT_INDEX["jawOpen"]]))
                gap.append(lip_gap(item.observation.landmarks, item.observation.image_size))
    return np.array(times), np.array(jaw), np.array(gap)


def audio_jaw(audio: np.ndarray, model: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(times in s from the audio's start, jawOpen) of the audio driver's samples of 16 kHz `audio`."""
    driver = AudioDriver(model, threads=1)
    samples = []
    for start in range(0, len(audio) - HOP + 1, HOP):
        samples += driver.push(audio[start:start + HOP])
    samples += driver.flush()
    return (np.array([s.capture_time_us / 1e6 for s in samples]),
            np.array([s.weights[ARKIT_INDEX["jawOpen"]] for s in samples], np.float64))


def loudness(audio: np.ndarray, window_s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(times in s, RMS over a centred `window_s` window) of 16 kHz `audio` every hop: the baseline of
    lipsync_jaw_corr_real, a driver that opens the jaw with the voice's loudness and knows nothing of speech."""
    width = max(1, int(window_s * 16000))
    rms = np.sqrt(np.convolve(audio.astype(np.float64) ** 2, np.ones(width) / width, "same"))[::HOP]
    return np.arange(len(rms)) * HOP / 16000.0, rms


def jaw_correlation(video_t: np.ndarray, video_jaw: np.ndarray, audio_t: np.ndarray, audio_jaw_: np.ndarray,
                    min_std: float = REAL_SPEECH_MIN_STD) -> tuple[float | None, str | None]:
    """Pearson correlation of the webcam's jawOpen with the audio driver's, interpolated to the video frames'
    times (frames outside the audio left out); (None, reason) when undefined."""
    inside = (video_t >= audio_t[0]) & (video_t <= audio_t[-1]) if len(audio_t) else np.zeros(len(video_t), bool)
    if inside.sum() < 3:
        return None, f"{int(inside.sum())} video frames with a face overlap the sound track"
    v = video_jaw[inside]
    a = np.interp(video_t[inside], audio_t, audio_jaw_)
    for what, series in (("the webcam driver's", v), ("the audio driver's", a)):
        if float(np.std(series)) < min_std:
            return None, f"{what} jawOpen barely moves (std {float(np.std(series)):.4f})"
    return float(np.corrcoef(v, a)[0, 1]), None


def _rounded(value: float | None) -> float | None:
    """A correlation for the JSON: 4 decimals, null when undefined (None or not finite)."""
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def real_speech(video: Path, model: Path | None = None) -> dict[str, Any]:
    """lipsync_jaw_corr_real on `video`, or null with the reason."""
    try:
        track = audio_track(video)
        if track is None:
            return {"lipsync_jaw_corr_real": None,
                    "lipsync_real_note": f"{video.name} has no sound track (no recorded speech to drive from)"}
        audio, offset = track
        if len(audio) < HOP * 10:
            return {"lipsync_jaw_corr_real": None, "lipsync_real_note": f"{video.name}'s sound track is empty"}
        video_t, video_jaw, video_gap = webcam_jaw(video)
        audio_t, jaw = audio_jaw(audio, model)
        corr, note = jaw_correlation(video_t, video_jaw, audio_t + offset, jaw)
        envelope_t, envelope = loudness(audio)
        baseline, _ = jaw_correlation(video_t, video_jaw, envelope_t + offset, envelope, min_std=0.0)
        gap_driver, _ = jaw_correlation(video_t, video_gap, audio_t + offset, jaw, min_std=0.0)
        gap_loudness, _ = jaw_correlation(video_t, video_gap, envelope_t + offset, envelope, min_std=0.0)
        gap_jaw = float(np.corrcoef(video_gap, video_jaw)[0, 1]) if len(video_t) > 2 else None
        lead_ms, gap_loudness_at_lead = mouth_lead(video_t, video_gap, envelope_t + offset, envelope)
        pause = np.interp(video_t, envelope_t + offset, envelope) < PAUSE_RMS
        driver_at_frames = np.interp(video_t, audio_t + offset, jaw)
    except Exception as exc:  # no webcam extra, no media, no ffmpeg: say why
        return {"lipsync_jaw_corr_real": None, "lipsync_real_note": " ".join(str(exc).split())[:160]}
    out: dict[str, Any] = {"lipsync_jaw_corr_real": _rounded(corr),
                           "lipsync_real_loudness_corr": _rounded(baseline),
                           "lipsync_real_lipgap_driver_corr": _rounded(gap_driver),
                           "lipsync_real_lipgap_loudness_corr": _rounded(gap_loudness),
                           "lipsync_real_lipgap_webcam_jaw_corr": _rounded(gap_jaw),
                           "lipsync_real_mouth_lead_ms": lead_ms,
                           "lipsync_real_lipgap_loudness_corr_at_lead": _rounded(gap_loudness_at_lead),
                           "lipsync_real_pause_jaw": _rounded(float(driver_at_frames[pause].mean())
                                                              if pause.any() else None),
                           "lipsync_real_pause_webcam_jaw": _rounded(float(video_jaw[pause].mean())
                                                                     if pause.any() else None),
                           "lipsync_real_pause_frames": int(pause.sum()),
                           "lipsync_real_video": video.name, "lipsync_real_frames": len(video_t)}
    return out if note is None else out | {"lipsync_real_note": note}


def hmc_decode(frames: int) -> dict[str, Any]:
    """hmc_decode_psnr_db: mean over the avatars that have an HMC model for their identity (each also reported), or
    null with the reason. The shipped HMC models belong to the MakeHuman studio identities, whose avatars (ada, ben)
    are test fixtures since the ICT samples replaced them (tests/assets/makehuman)."""
    try:
        from codecav.training.drivers_eval import hmc_decode_psnr, sample_identity
        from tests.assets.makehuman import ADA, BEN
    except ImportError as exc:
        return {"hmc_decode_psnr_db": None, "hmc_decode_note": f"unavailable: {exc}"}
    out: dict[str, Any] = {}
    scores, refs = [], []
    for path in (ADA, BEN):
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
    parser.add_argument("--real-speech", type=Path, default=REAL_SPEECH_CLIP,
                        help="face video with its sound track for lipsync_jaw_corr_real (default: %(default)s)")
    parser.add_argument("--skip-real-speech", action="store_true")
    parser.add_argument("--audio-model", type=Path, default=None,
                        help="audio driver ONNX to measure (default: the shipped codecav/assets/drivers/audio.onnx)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"hmc_encoder_ms_p50_all_cores": hmc_encoder_ms(os.cpu_count() or 1, args.repeats)}
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    result["hmc_encoder_ms_p50"] = hmc_encoder_ms(1, args.repeats)
    result |= audio_metrics(_speech(), args.audio_model)
    result |= rest_jaw(model=args.audio_model)
    result |= {"lipsync_jaw_corr_real": None, "lipsync_real_note": "skipped"} if args.skip_real_speech else \
        real_speech(args.real_speech, args.audio_model)
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
