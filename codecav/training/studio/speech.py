"""Phoneme timings from libespeak-ng (through ctypes) and their mapping to visemes and ARKit weights."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

from codecav.arkit import ARKIT_INDEX
from codecav.training.studio.errors import SpeechError

_EVENT_PHONEME = 7
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 1
_CHARS_UTF8 = 1
_LOCK = threading.Lock()  # libespeak-ng is a process-wide singleton


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
        ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Utterance:
    """A synthesised sentence: phonemes with start times, and the audio."""

    text: str
    """The sentence."""
    phonemes: tuple[tuple[float, str], ...]
    """(start time in seconds, espeak phoneme mnemonic) in order; '_' is a pause."""
    audio: np.ndarray
    """int16 [N] mono speech samples."""
    sample_rate: int
    """Samples per second of `audio`."""

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / self.sample_rate


_ESPEAK_RATE, _ESPEAK_PITCH = 1, 3
"""espeak_PARAMETER values (speak_lib.h): words per minute, base pitch 0..100."""


def synthesize(text: str, voice: str = "en-us", rate_wpm: int | None = None, pitch: int | None = None) -> Utterance:
    """Speak `text` with libespeak-ng, optionally at a speaking rate (words per minute) and pitch (0..100);
    SpeechError naming the fix if it is not installed."""
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise SpeechError("libespeak-ng is not installed; run: apt-get install -y espeak-ng") from exc
    phonemes: list[tuple[float, str]] = []
    samples: list[np.ndarray] = []

    def callback(wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]) -> int:
        if count > 0:
            samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != 0:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                phonemes.append((event.audio_position / 1000.0, bytes(event.id).split(b"\0")[0].decode()))
            i += 1
        return 0

    keep = _CALLBACK(callback)
    with _LOCK:
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS)
        if rate <= 0:
            raise SpeechError("libespeak-ng failed to initialise (no espeak-ng-data?); reinstall espeak-ng")
        lib.espeak_SetSynthCallback(keep)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpeechError(f"espeak-ng has no voice {voice!r}; pick one from `espeak-ng --voices`")
        if rate_wpm is not None:
            lib.espeak_SetParameter(_ESPEAK_RATE, int(rate_wpm), 0)
        if pitch is not None:
            lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        data = text.encode("utf-8")
        if lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None) != 0:
            raise SpeechError(f"espeak-ng could not synthesise {text!r}")
        lib.espeak_Synchronize()
    audio = np.concatenate(samples) if samples else np.zeros(0, dtype=np.int16)
    return Utterance(text, tuple(phonemes), audio.astype(np.int16), int(rate))


VISEMES: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"mouthClose": 0.3, "mouthPressLeft": 0.5, "mouthPressRight": 0.5, "mouthRollLower": 0.2},
    "FF": {"mouthRollLower": 0.6, "mouthUpperUpLeft": 0.2, "mouthUpperUpRight": 0.2, "jawOpen": 0.05},
    "TH": {"jawOpen": 0.15, "tongueOut": 0.4},
    "DD": {"jawOpen": 0.2, "mouthStretchLeft": 0.1, "mouthStretchRight": 0.1},
    "kk": {"jawOpen": 0.25, "mouthStretchLeft": 0.15, "mouthStretchRight": 0.15},
    "CH": {"jawOpen": 0.15, "mouthFunnel": 0.5, "mouthPucker": 0.2},
    "SS": {"jawOpen": 0.08, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3},
    "nn": {"jawOpen": 0.15, "mouthClose": 0.05},
    "RR": {"jawOpen": 0.15, "mouthPucker": 0.35, "mouthFunnel": 0.2},
    "aa": {"jawOpen": 0.55, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3},
    "E": {"jawOpen": 0.35, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3},
    "I": {"jawOpen": 0.2, "mouthSmileLeft": 0.35, "mouthSmileRight": 0.35},
    "O": {"jawOpen": 0.4, "mouthFunnel": 0.5, "mouthPucker": 0.2},
    "U": {"jawOpen": 0.15, "mouthPucker": 0.7, "mouthFunnel": 0.3},
}
"""The 15 Oculus/MPEG-4 style visemes as ARKit-52 weights."""

_PREFIX_VISEMES = (
    ("tS", "CH"), ("dZ", "CH"), ("aI", "aa"), ("aU", "aa"), ("eI", "E"), ("oU", "O"), ("OI", "O"),
    ("p", "PP"), ("b", "PP"), ("m", "PP"), ("f", "FF"), ("v", "FF"), ("T", "TH"), ("D", "TH"),
    ("t", "DD"), ("d", "DD"), ("l", "DD"), ("k", "kk"), ("g", "kk"), ("N", "nn"), ("h", "kk"),
    ("S", "CH"), ("Z", "CH"), ("s", "SS"), ("z", "SS"), ("n", "nn"), ("r", "RR"), ("w", "U"), ("j", "I"),
    ("a", "aa"), ("A", "aa"), ("V", "aa"), ("@", "E"), ("3", "E"), ("E", "E"), ("e", "E"), ("i", "I"),
    ("I", "I"), ("0", "O"), ("O", "O"), ("o", "O"), ("u", "U"), ("U", "U"), ("_", "sil"),
)


def phoneme_viseme(phoneme: str) -> str:
    """The viseme of an espeak phoneme mnemonic (longest known prefix; 'sil' for pauses and unknowns)."""
    for prefix, viseme in _PREFIX_VISEMES:
        if phoneme.startswith(prefix):
            return viseme
    return "sil"


def viseme_track(utterance: Utterance, fps: float = 30.0, lead: float = 0.04, smooth: float = 0.05) -> np.ndarray:
    """float32 [frames, 52] ARKit weights at `fps`: each viseme's shape from its phoneme's start, shown
    `lead` s early (the mouth moves before the sound) and blended with neighbours by a Gaussian of
    `smooth` s (co-articulation)."""
    frames = max(1, int(np.ceil(utterance.duration * fps)))
    fine_rate = 1000.0
    fine = np.zeros((int(np.ceil(utterance.duration * fine_rate)) + 1, 52), dtype=np.float32)
    starts = [t for t, _ in utterance.phonemes] + [utterance.duration]
    for (start, phoneme), end in zip(utterance.phonemes, starts[1:], strict=True):
        shape = np.zeros(52, dtype=np.float32)
        for name, weight in VISEMES[phoneme_viseme(phoneme)].items():
            shape[ARKIT_INDEX[name]] = weight
        a = max(0, int((start - lead) * fine_rate))
        b = max(a + 1, int((end - lead) * fine_rate))
        fine[a:b] = shape
    sigma = smooth * fine_rate
    radius = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(fine, ((radius, radius), (0, 0)), mode="edge")
    times = (np.arange(frames) / fps * fine_rate).astype(int).clip(0, len(fine) - 1)
    out = np.stack([kernel @ padded[t : t + 2 * radius + 1] for t in times])
    return out.astype(np.float32)
