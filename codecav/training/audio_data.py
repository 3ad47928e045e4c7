"""Training data of the audio driver: 16 kHz speech with ARKit mouth targets at 100 Hz (one per log-mel hop).

Two kinds: espeak-ng sentences (exact phoneme timings; voices, rates and pitches varied) and real human speech,
the Asterisk core prompts (Debian `asterisk-core-sounds-en-g722`, one female voice, CC-BY-SA-3.0, transcripts in
`asterisk-core-sounds-en`), decoded with the ffmpeg of PyPI `imageio-ffmpeg`. The prompts come without timings:
each transcript is spoken by espeak-ng and its phoneme times are carried onto the real recording along a DTW
path between the two utterances' normalised log-mel features."""

from __future__ import annotations

import gzip
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_INDEX
from codecav.encoders.audio.features import HOP, SAMPLE_RATE, log_mel, resample
from codecav.training.studio import speech
from codecav.training.studio.errors import SpeechError
from codecav.training.studio.speech import VISEMES, Utterance, viseme_track

MOUTH_NAMES: tuple[str, ...] = tuple(sorted({n for shape in VISEMES.values() for n in shape}))
"""ARKit names the audio driver predicts: every blendshape a viseme uses (ARKIT_52 order, alphabetical)."""
MOUTH_INDEX: tuple[int, ...] = tuple(ARKIT_INDEX[n] for n in MOUTH_NAMES)
"""Indices of MOUTH_NAMES in ARKIT_52."""
TARGET_FPS = SAMPLE_RATE / HOP
"""Target rate: one per log-mel frame (100 Hz)."""

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en")
"""Where Debian installs the G.722 prompts."""
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
"""Their transcripts: 'name: text' lines."""

VOICES = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us+f2", "en-us+f4", "en+m3", "en-us+klatt",
          "en+f3", "en-us+m7", "en-us+m5", "en+klatt2", "en-gb-x-rp+f4")
"""espeak-ng voices (and variants) of the synthetic part."""


@dataclass(frozen=True)
class SpeechClip:
    """One utterance of training audio with its mouth targets."""

    name: str
    """Where it came from, e.g. 'espeak:en-us+f2:140:57:<text>' or 'asterisk:agent-pass'."""
    audio: np.ndarray
    """float32 [N] mono 16 kHz in -1..1."""
    targets: np.ndarray
    """float32 [frames, len(MOUTH_NAMES)] at 100 Hz, aligned with log_mel(audio) frames (centre times)."""
    real: bool
    """True for recorded human speech."""


def synthesize_varied(text: str, voice: str, rate_wpm: int, pitch: int) -> Utterance:
    """speech.synthesize with a speaking rate (words per minute) and pitch (0..100)."""
    return speech.synthesize(text, voice, rate_wpm=rate_wpm, pitch=pitch)


def mouth_targets(utterance: Utterance, frames: int) -> np.ndarray:
    """float32 [frames, len(MOUTH_NAMES)]: the studio's viseme track at 100 Hz, sampled at the log-mel frame
    centres (frame j is centred at (j * HOP + WINDOW / 2) / 16000 s)."""
    track = viseme_track(utterance, fps=TARGET_FPS)  # row k at k / 100 s
    centre_shift = 0.0125 * TARGET_FPS  # window centre: 12.5 ms after the frame start
    rows = np.clip(np.round(np.arange(frames) + centre_shift).astype(np.int64), 0, len(track) - 1)
    return track[rows][:, list(MOUTH_INDEX)].astype(np.float32)


def espeak_clip(text: str, voice: str = "en-us", rate_wpm: int = 175, pitch: int = 50) -> SpeechClip:
    """An espeak-ng sentence at 16 kHz with its phoneme-timed mouth targets."""
    utt = synthesize_varied(text, voice, rate_wpm, pitch)
    audio = resample(utt.audio.astype(np.float32) / 32768.0, utt.sample_rate)
    frames = len(log_mel(audio))
    return SpeechClip(f"espeak:{voice}:{rate_wpm}:{pitch}:{text}", audio, mouth_targets(utt, frames), False)


def asterisk_transcripts(path: Path = ASTERISK_TRANSCRIPTS) -> dict[str, str]:
    """Prompt name -> transcript, for prompts that are speech (not '[tones]')."""
    if not path.is_file():
        raise SpeechError(f"{path} is missing; run: apt-get install -y asterisk-core-sounds-en")
    out: dict[str, str] = {}
    for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        match = re.match(r"^([A-Za-z0-9_/-]+):\s*(.+)$", line.strip())
        if match and not match.group(2).startswith("["):
            text = re.sub(r"\[[^\]]*\]", " ", match.group(2)).strip()
            if re.search(r"[A-Za-z]", text):
                out[match.group(1)] = text
    return out


def decode_g722(path: Path) -> np.ndarray:
    """float32 mono 16 kHz samples of a G.722 file, through imageio-ffmpeg's ffmpeg binary."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SpeechError("imageio-ffmpeg is missing; pip install 'codecav[train]'") from None
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "g722", "-i", str(path), "-f", "s16le", "-ac", "1",
           "-ar", str(SAMPLE_RATE), "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def alignment_features(audio: np.ndarray) -> np.ndarray:
    """[frames, N_MELS] log-mel with per-utterance mean/variance normalisation per band (a quick check on 30
    prompts matched the real audio's energy better than MFCCs did)."""
    mel = log_mel(audio)
    mel = mel - mel.mean(axis=0)
    return mel / np.maximum(mel.std(axis=0), 1e-3)


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic DTW alignment of feature sequences a [n, d] and b [m, d] (Euclidean cost, steps (1,1), (1,0),
    (0,1)), vectorised over anti-diagonals; returns index arrays (i, j) of the path from (0, 0) to (n-1, m-1)."""
    n, m = len(a), len(b)
    cost = np.sqrt(np.maximum(((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T), 0.0))
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for s in range(2, n + m + 1):  # anti-diagonal i + j = s in the padded table
        di = np.arange(max(1, s - m), min(n, s - 1) + 1)
        dj = s - di
        acc[di, dj] = cost[di - 1, dj - 1] + np.minimum(np.minimum(acc[di - 1, dj - 1], acc[di - 1, dj]),
                                                        acc[di, dj - 1])
    path_i, path_j = [n - 1], [m - 1]
    i, j = n, m
    while i > 1 or j > 1:
        steps = ((acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1))
        _, i, j = min(steps, key=lambda s: s[0])
        path_i.append(i - 1)
        path_j.append(j - 1)
    return np.array(path_i[::-1]), np.array(path_j[::-1])


def align_transcript(audio: np.ndarray, text: str) -> tuple[Utterance, float]:
    """espeak-ng phonemes of `text` retimed onto the real `audio` (16 kHz) by DTW, and the mean DTW cost per
    step (lower is a better match)."""
    utt = synthesize_varied(text, "en-us", 175, 50)
    synth = resample(utt.audio.astype(np.float32) / 32768.0, utt.sample_rate)
    fa, fb = alignment_features(synth), alignment_features(audio)
    path_a, path_b = dtw_path(fa, fb)
    mean_cost = float(np.linalg.norm(fa[path_a] - fb[path_b], axis=1).mean())
    # frame index in synth -> mean matching frame index in real audio, then phoneme times through it
    real_of_synth = np.zeros(len(fa))
    np.add.at(real_of_synth, path_a, path_b)
    real_of_synth /= np.bincount(path_a, minlength=len(fa))
    frame_s = HOP / SAMPLE_RATE
    retimed = []
    for start, phoneme in utt.phonemes:
        k = start / frame_s
        t = np.interp(k, np.arange(len(fa)), real_of_synth) * frame_s
        retimed.append((float(t), phoneme))
    for earlier, later in zip(retimed, retimed[1:], strict=False):  # keep order after rounding
        assert later[0] >= earlier[0] - 1e-9
    pcm = np.clip(audio * 32768.0, -32768, 32767).astype(np.int16)
    return Utterance(text, tuple(retimed), pcm, SAMPLE_RATE), mean_cost


def asterisk_clips(max_clips: int | None = None, max_cost: float = 6.0) -> Iterator[SpeechClip]:
    """Aligned Asterisk prompts (real speech), skipping those whose DTW match is poor (mean cost > max_cost)."""
    transcripts = asterisk_transcripts()
    count = 0
    for name in sorted(transcripts):
        path = ASTERISK_SOUNDS / f"{name}.g722"
        if not path.is_file():
            continue
        audio = decode_g722(path)
        if len(audio) < SAMPLE_RATE // 4:
            continue
        utt, cost = align_transcript(audio, transcripts[name])
        if cost > max_cost:
            continue
        frames = len(log_mel(audio))
        yield SpeechClip(f"asterisk:{name}", audio, mouth_targets(utt, frames), True)
        count += 1
        if max_clips is not None and count >= max_clips:
            return
