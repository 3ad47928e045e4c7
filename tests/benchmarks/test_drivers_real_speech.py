"""benchmarks/drivers.py's real-speech pieces: the shipped clip is the one its NOTICE describes (recorded sound and
video, about 27 s), the loudness baseline follows the voice, and the jaw correlation lines the two series up in
time and refuses a series that does not move."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import av
import numpy as np
import pytest

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


def test_mouth_lead_finds_a_mouth_that_moves_before_its_sound() -> None:
    drivers = load_benchmark("drivers")
    video_t = np.arange(0, 6, 1 / 30)
    envelope_t = np.arange(0, 6.5, 0.01)
    rng = np.random.default_rng(0)
    envelope = np.convolve(rng.random(len(envelope_t)), np.ones(8) / 8, "same")
    gap = np.interp(video_t + 0.08, envelope_t, envelope)  # the lips open 80 ms before the sound
    lead, corr = drivers.mouth_lead(video_t, gap, envelope_t, envelope)
    assert lead == 80.0 and corr > 0.99
    lead, _ = drivers.mouth_lead(video_t, np.interp(video_t - 0.05, envelope_t, envelope), envelope_t, envelope)
    assert lead == -50.0


def test_rest_jaw_measures_the_driver_with_nobody_speaking() -> None:
    drivers = load_benchmark("drivers")
    rest = drivers.rest_jaw(seconds=1.0)
    assert set(rest) == {"audio_rest_jaw_silence", "audio_rest_jaw_white_50dbfs", "audio_rest_jaw_pink_50dbfs"}
    import codecav
    from codecav.encoders.audio.driver import read_wav
    from codecav.encoders.audio.features import resample

    audio, rate = read_wav(Path(codecav.__file__).parent / "assets" / "clips" / "0" / "audio.wav")  # shipped speech
    _, speaking = drivers.audio_jaw(resample(audio, rate))
    assert max(rest.values()) < 0.5 * float(speaking.mean()), "with nobody speaking the mouth rests"


def test_pink_noise_loses_3_db_per_octave() -> None:
    drivers = load_benchmark("drivers")
    noise = drivers.pink_noise(1 << 16, np.random.default_rng(0))
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / 16000)
    band = lambda lo: power[(freqs >= lo) & (freqs < 2 * lo)].mean()  # noqa: E731
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)
    assert 10 * np.log10(band(250) / band(1000)) == pytest.approx(6.0, abs=0.5)
