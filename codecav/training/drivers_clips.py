"""Record the shipped driving clip of a studio identity: a held-out sentence spoken by espeak-ng (audio), its
visemes plus blinks and a slow gaze sweep as the ARKit ground truth, rendered by the headset cameras of
codecav.training.studio.hmc with one headset slippage and sensor noise.

    codecav driver record-clip --identity 0 --out codecav/assets/clips/0
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codecav.encoders.audio.features import resample
from codecav.encoders.clip import write_clip
from codecav.encoders.gaze import GAZE_WEIGHTS, weights_to_gaze
from codecav.training.audio_data import synthesize_varied
from codecav.training.studio.expressions import FPS, SENTENCES, blink_sequence, gaze_weights
from codecav.training.studio.hmc import HmcStudio
from codecav.training.studio.speech import viseme_track

CLIP_SENTENCE = 0
"""SENTENCES index of the clips: the sentence no driver is trained on."""


def clip_weights(text: str, identity: int, seconds: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(ARKit weights [T, 52] at FPS, 16 kHz audio): speech visemes, blinks and a gaze sweep."""
    utt = synthesize_varied(text, "en-us", 165, 50)
    speech = viseme_track(utt, FPS)
    frames = len(speech) if seconds is None else min(len(speech), int(seconds * FPS))
    rng = np.random.default_rng(identity)
    weights = speech[:frames].copy()
    weights = np.maximum(weights, blink_sequence(frames, rng).weights)
    t = np.arange(frames) / FPS
    for i, (yaw, pitch) in enumerate(zip(0.6 * np.sin(2 * np.pi * 0.25 * t), 0.3 * np.sin(2 * np.pi * 0.4 * t),
                                         strict=True)):
        weights[i, list(GAZE_WEIGHTS)] = gaze_weights(float(yaw), float(pitch))[list(GAZE_WEIGHTS)]
    audio = resample(utt.audio.astype(np.float32) / 32768.0, utt.sample_rate)[: int(frames / FPS * 16000)]
    return weights.astype(np.float32), audio


def record_clip(identity: int, out: Path, seconds: float | None = 4.0, seed: int = 0) -> Path:
    """Render and write the clip of `identity` (see module docstring)."""
    text = SENTENCES[CLIP_SENTENCE]
    weights, audio = clip_weights(text, identity, seconds)
    studio = HmcStudio(identity)
    try:
        hmc = np.stack(list(studio.stream(weights, seed=seed + 100 + identity)))
    finally:
        studio.close()
    gaze = np.stack([np.stack([g.left, g.right]) for g in map(weights_to_gaze, weights)])
    return write_clip(out, identity=identity, fps=FPS, hmc=hmc, audio=audio, gaze=gaze, expressions=weights,
                      text=text, command=f"codecav driver record-clip --identity {identity} --out {out}")

