"""benchmarks/drivers.py's real-speech pieces: the shipped clip is the one its NOTICE describes (recorded sound and
video, about 27 s), the loudness baseline follows the voice, and the jaw correlation lines the two series up in
time and refuses a series that does not move."""

from __future__ import annotations

import hashlib
import re

import av
import numpy as np

from tests.benchmarks import load_benchmark


def test_the_real_speech_clip_is_the_one_its_notice_names_with_sound_and_picture() -> None:
    drivers = load_benchmark("drivers")
    clip = drivers.REAL_SPEECH_CLIP
    notice = (clip.parent / "NOTICE.md").read_text()
    digest = re.search(r"sha256 `([0-9a-f]{64})`", notice)
    assert digest is not None and hashlib.sha256(clip.read_bytes()).hexdigest() == digest.group(1)
    with av.open(str(clip)) as container:
        kinds = {s.type: float(s.duration * s.time_base) for s in container.streams
                 if s.duration and s.time_base is not None}
    assert set(kinds) == {"video", "audio"} and 25.0 < kinds["video"] < 29.0
    assert abs(kinds["audio"] - kinds["video"]) < 0.2


def test_loudness_follows_a_tone_burst() -> None:
    drivers = load_benchmark("drivers")
    t = np.arange(16000) / 16000.0
    audio = np.where((t > 0.4) & (t < 0.6), 0.5 * np.sin(2 * np.pi * 220 * t), 0.0)
    times, rms = drivers.loudness(audio)
    inside, outside = rms[(times > 0.45) & (times < 0.55)], rms[(times < 0.3) | (times > 0.7)]
    assert inside.min() > 0.3 and outside.max() < 1e-9


def test_jaw_correlation_aligns_by_time_and_refuses_a_still_jaw() -> None:
    drivers = load_benchmark("drivers")
    video_t = np.arange(0, 5, 1 / 25)
    audio_t = np.arange(0, 5, 0.01)
    jaw = 0.3 + 0.2 * np.sin(2 * np.pi * 1.3 * audio_t)
    corr, note = drivers.jaw_correlation(video_t, np.interp(video_t, audio_t, jaw), audio_t, jaw)
    assert note is None and corr is not None and corr > 0.999
    late, _ = drivers.jaw_correlation(video_t, np.interp(video_t, audio_t, jaw), audio_t + 0.38, jaw)
    assert late is not None and late < 0.0, "a sound track half a period late anticorrelates"
    none, why = drivers.jaw_correlation(video_t, np.full(len(video_t), 0.2), audio_t, jaw)
    assert none is None and why is not None and "barely moves" in why
