"""ARKit-52 expression sequences for the studio at 30 fps: random expressions, speech, blinks, gaze."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.training.studio.speech import synthesize, viseme_track

FPS = 30.0
"""Frames per second of every sequence."""

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "We were away a year ago, in a small village by the sea.",
    "Should I chew my food very thoroughly, or just swallow it whole?",
    "Thank you for joining this meeting; I can see and hear you perfectly.",
)
"""Sentences of the speech segments (phonetically varied, like capture scripts)."""

_PAIRS = [(n, n[:-4] + "Right") for n in ARKIT_52 if n.endswith("Left")]


@dataclass(frozen=True)
class Sequence:
    """A named segment of frames."""

    name: str
    """Segment name, e.g. 'EXP_random', 'SEN_0', 'BLINK', 'GAZE'."""
    weights: np.ndarray
    """float32 [frames, 52] ARKit weights in ARKIT_52 order, in [0, 1]."""
    audio: np.ndarray | None = None
    """int16 mono speech for SEN_ segments, else None."""
    sample_rate: int = 0
    """Sample rate of `audio` (0 without audio)."""


def random_expression(rng: np.random.Generator, max_active: int = 6) -> np.ndarray:
    """float32 [52]: a sparse random expression; left/right pairs usually move together."""
    w = np.zeros(len(ARKIT_52), dtype=np.float32)
    count = int(rng.integers(1, max_active + 1))
    for index in rng.choice(len(ARKIT_52), size=count, replace=False):
        name = ARKIT_52[int(index)]
        value = float(rng.beta(2.0, 2.5))
        w[index] = value
        for left, right in _PAIRS:
            if name in (left, right) and rng.random() < 0.75:  # symmetric bias
                other = right if name == left else left
                w[ARKIT_INDEX[other]] = float(np.clip(value + rng.normal(0, 0.08), 0, 1))
    # Keep physically odd combinations mild: a closed mouth with an open jaw, tongue without jaw.
    jaw = w[ARKIT_INDEX["jawOpen"]]
    w[ARKIT_INDEX["mouthClose"]] = min(w[ARKIT_INDEX["mouthClose"]], jaw)
    if w[ARKIT_INDEX["tongueOut"]] > 0:
        w[ARKIT_INDEX["jawOpen"]] = max(jaw, 0.3)
    return w


def random_sequence(frames: int, rng: np.random.Generator, hold: int = 1) -> Sequence:
    """`EXP_random`: independent random expressions, each held `hold` frames."""
    keys = [random_expression(rng) for _ in range((frames + hold - 1) // hold)]
    return Sequence("EXP_random", np.repeat(np.stack(keys), hold, axis=0)[:frames])


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def blink_sequence(frames: int, rng: np.random.Generator) -> Sequence:
    """`BLINK`: blinks (about 0.25 s) at random times, sometimes one-sided winks, with brief squints."""
    t = np.arange(frames) / FPS
    w = np.zeros((frames, len(ARKIT_52)), dtype=np.float32)
    start = 0.2
    end = frames / FPS
    while start < end:
        centre = start + float(rng.uniform(0.1, 0.4))
        shape = _bump(t, centre, 0.05)
        wink = rng.random()
        w[:, ARKIT_INDEX["eyeBlinkLeft"]] += shape * (0.2 if wink < 0.15 else 1.0)
        w[:, ARKIT_INDEX["eyeBlinkRight"]] += shape * (0.2 if 0.15 <= wink < 0.3 else 1.0)
        w[:, ARKIT_INDEX["eyeSquintLeft"]] += 0.3 * shape
        w[:, ARKIT_INDEX["eyeSquintRight"]] += 0.3 * shape
        start = centre + float(rng.uniform(0.3, 0.8))
    return Sequence("BLINK", np.clip(w, 0.0, 1.0))


def gaze_weights(yaw: float, pitch: float) -> np.ndarray:
    """float32 [52] eyeLook* weights for a gaze `yaw` (+ towards the avatar's left) and `pitch` (+ up) in
    [-1, 1] (1 = the blendshape's full range)."""
    w = np.zeros(len(ARKIT_52), dtype=np.float32)
    # The left eye looks out (towards its temple) when the gaze turns to the avatar's left.
    if yaw > 0:
        w[ARKIT_INDEX["eyeLookOutLeft"]] = yaw
        w[ARKIT_INDEX["eyeLookInRight"]] = yaw
    else:
        w[ARKIT_INDEX["eyeLookInLeft"]] = -yaw
        w[ARKIT_INDEX["eyeLookOutRight"]] = -yaw
    up, down = max(pitch, 0.0), max(-pitch, 0.0)
    for side in ("Left", "Right"):
        w[ARKIT_INDEX["eyeLookUp" + side]] = up
        w[ARKIT_INDEX["eyeLookDown" + side]] = down
    return w


def gaze_sequence(frames: int, rng: np.random.Generator) -> Sequence:
    """`GAZE`: a smooth Lissajous sweep over the gaze range plus random fixations."""
    t = np.arange(frames) / FPS
    phase = float(rng.uniform(0, 2 * np.pi))
    yaw = 0.9 * np.sin(2 * np.pi * 0.31 * t + phase)
    pitch = 0.7 * np.sin(2 * np.pi * 0.47 * t)
    w = np.stack([gaze_weights(float(a), float(b)) for a, b in zip(yaw, pitch, strict=True)])
    return Sequence("GAZE", w.astype(np.float32))


def speech_sequence(index: int, max_frames: int | None = None, voice: str = "en-us") -> Sequence:
    """`SEN_<index>`: SENTENCES[index % len] spoken by espeak-ng, visemes at 30 fps, plus its audio."""
    utterance = synthesize(SENTENCES[index % len(SENTENCES)], voice)
    weights = viseme_track(utterance, FPS)
    if max_frames is not None:
        weights = weights[:max_frames]
    samples = int(len(weights) / FPS * utterance.sample_rate)
    return Sequence(f"SEN_{index}", weights, utterance.audio[:samples], utterance.sample_rate)
