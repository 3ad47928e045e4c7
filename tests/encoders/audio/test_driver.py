"""Audio front end (resampler, streaming log-mel), the shipped audio driver on held-out espeak-ng speech, WAV
files in several formats, and a live microphone: real audio through a dummy JACK server."""

from __future__ import annotations

import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.clock import FakeClock
from codecav.encoders.audio.driver import AudioDriver, WavSource, default_audio_model, read_wav, write_wav
from codecav.encoders.audio.features import (
    FMAX,
    FMIN,
    HOP,
    LogMelStream,
    Resampler,
    hz_to_mel,
    log_mel,
    mel_band_edges_hz,
    mel_filterbank,
    mel_to_hz,
    resample,
)
from codecav.encoders.errors import AudioDeviceError, ClipError
from codecav.training.studio.expressions import SENTENCES
from codecav.training.studio.speech import synthesize, viseme_track

JAW = ARKIT_INDEX["jawOpen"]


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, np.ndarray]:
    """(16 kHz audio, true jawOpen at 100 Hz) of a sentence the driver was never trained on."""
    utt = synthesize(SENTENCES[2])
    audio = resample(utt.audio.astype(np.float32) / 32768.0, utt.sample_rate)
    return audio, viseme_track(utt, fps=100.0)[:, JAW]


def test_resampler_is_accurate_blockwise_and_antialiased() -> None:
    t = np.arange(48_000) / 48_000
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    whole = resample(tone, 48_000)
    assert len(whole) == 16_000
    np.testing.assert_allclose(whole[100:-100], np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)[100:-100],
                               atol=1e-3)
    r = Resampler(48_000)
    pieces = np.concatenate([r.push(b) for b in np.array_split(tone, 37)])
    np.testing.assert_array_equal(pieces, whole[: len(pieces)])
    above_nyquist = np.sin(2 * np.pi * 10_000 * t).astype(np.float32)
    assert np.abs(resample(above_nyquist, 48_000)[100:-100]).max() < 1e-3


def test_mel_scale_round_trips_and_bands_peak_at_their_centres() -> None:
    hz = np.array([60.0, 440.0, 1000.0, 7600.0])
    assert np.allclose(mel_to_hz(hz_to_mel(hz)), hz)
    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.5)  # the mel scale's anchor
    edges = mel_band_edges_hz()
    assert edges[0] == pytest.approx(FMIN) and edges[-1] == pytest.approx(FMAX)
    bins_hz = np.arange(mel_filterbank().shape[1]) * 16000 / 512
    peaks = bins_hz[mel_filterbank().argmax(axis=1)]
    assert np.all(np.abs(peaks - edges[1:-1]) <= 16000 / 512)  # each band peaks at its centre, to one FFT bin


def test_streaming_log_mel_equals_offline() -> None:
    audio = np.random.default_rng(0).standard_normal(12_345).astype(np.float32) * 0.1
    stream = LogMelStream()
    parts = np.concatenate([stream.push(b) for b in np.array_split(audio, 17)])
    np.testing.assert_allclose(parts, log_mel(audio), atol=1e-5)
    assert stream.frames_out == len(log_mel(audio)) == 1 + (12_345 - 400) // HOP


def test_driver_follows_the_jaw_of_held_out_speech(speech: tuple[np.ndarray, np.ndarray]) -> None:
    audio, true_jaw = speech
    driver = AudioDriver(threads=1)
    assert driver.algorithmic_delay_ms <= 60.0
    samples = driver.push(audio) + driver.flush()
    assert len(samples) == len(log_mel(audio))
    times = np.array([s.capture_time_us for s in samples])
    assert np.all(np.diff(times) == 10_000) and times[0] == 12_500  # window centres
    jaw = np.array([s.weights[JAW] for s in samples])
    truth = true_jaw[np.clip(np.round(times / 10_000).astype(int), 0, len(true_jaw) - 1)]
    assert np.corrcoef(jaw, truth)[0, 1] > 0.7
    speaking = np.array([s.confidence[JAW] for s in samples])
    assert speaking.max() >= 0.85 and speaking.min() <= 0.35  # voice activity raises the mouth's confidence
    assert all(s.confidence[ARKIT_INDEX["eyeBlinkLeft"]] == 0 for s in samples)


def test_driver_output_does_not_depend_on_block_size(speech: tuple[np.ndarray, np.ndarray]) -> None:
    audio = speech[0][:16_000]
    one = AudioDriver()
    whole = one.push(audio) + one.flush()
    other = AudioDriver()
    blocks = [s for b in np.array_split(audio, 53) for s in other.push(b)] + other.flush()
    assert [s.capture_time_us for s in blocks] == [s.capture_time_us for s in whole]
    np.testing.assert_allclose(np.stack([s.weights for s in blocks]), np.stack([s.weights for s in whole]),
                               atol=1e-5)


@pytest.mark.parametrize(("width", "rate", "channels"), [(2, 16_000, 1), (2, 48_000, 2), (1, 22_050, 1),
                                                         (3, 44_100, 1)])
def test_wav_source_reads_pcm_formats(tmp_path: Path, speech: tuple[np.ndarray, np.ndarray], width: int, rate: int,
                                      channels: int) -> None:
    audio = resample(speech[0][:24_000], 16_000, rate)
    scale = float(2 ** (8 * width - 1) - 1)
    ints = np.round(np.clip(audio, -1, 1) * scale).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    else:
        raw = np.repeat(ints, channels).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :width].tobytes()
    if width == 1 and channels > 1:
        raw = np.repeat(np.frombuffer(raw, np.uint8), channels).tobytes()
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(raw)
    data, got_rate = read_wav(path)
    assert got_rate == rate and len(data) == len(audio)
    np.testing.assert_allclose(data, audio, atol=2.5 / 2 ** (8 * width - 1) + 1e-6)
    with WavSource(path) as source:
        samples = []
        while (s := source.read()) is not None:
            samples.append(s)
    assert abs(len(samples) - 150) <= 6  # 1.5 s at 100 Hz
    assert max(s.weights[JAW] for s in samples) > 0.2


def test_wav_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="does not exist"):
        WavSource(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000nonsense")
    with pytest.raises(ClipError, match="not a readable PCM WAV") as info:
        read_wav(bad)
    assert "\n" not in str(info.value)


def test_wav_realtime_paces_like_playback(tmp_path: Path, speech: tuple[np.ndarray, np.ndarray]) -> None:
    path = write_wav(tmp_path / "s.wav", speech[0][:8000])
    source = WavSource(path, realtime=True)
    start = time.monotonic()
    count = 0
    while source.read() is not None:
        count += 1
    elapsed = time.monotonic() - start
    assert count >= 48 and 0.45 <= elapsed <= 1.5  # 0.5 s of audio (+ the driver's lookahead)


def test_wav_realtime_on_fake_time_delivers_each_sample_once_heard(tmp_path: Path,
                                                                    speech: tuple[np.ndarray, np.ndarray]) -> None:
    path = write_wav(tmp_path / "s.wav", speech[0][:8000])
    clock = FakeClock(2_000_000_000)
    source = WavSource(path, realtime=True, clock=clock)
    delay_us = round(source.driver.algorithmic_delay_ms * 1000)
    assert source.read(timeout=0.0) is None and clock.now_ns() == 2_000_000_000  # the first needs its lookahead
    times = []
    while (sample := source.read()) is not None:
        assert clock.now_us() >= sample.capture_time_us + delay_us
        times.append(sample.capture_time_us)
    assert len(times) >= 48 and times[0] >= 2_000_000 and np.all(np.diff(times) == 10_000)
    assert clock.now_us() == times[-1] + delay_us  # slept exactly until the last sample was heard


def test_shipped_model_exists() -> None:
    assert default_audio_model().is_file(), "train it: codecav driver train-audio"


def _jack_ports() -> str:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True, check=True).stdout


def test_microphone_hears_speech_through_jack(jack_server: str, speech: tuple[np.ndarray, np.ndarray]) -> None:
    import sounddevice as sd

    from codecav.encoders.audio.microphone import MicrophoneSource, input_devices

    assert any(api.startswith("JACK") for _, _, api, _, _ in input_devices())
    audio48 = resample(speech[0], 16_000, 48_000)
    position = [0]
    silence_then_speech = np.concatenate([np.zeros(24_000, np.float32), audio48, np.zeros(24_000, np.float32)])

    def play(out: np.ndarray, frames: int, _time: object, _status: object) -> None:
        chunk = silence_then_speech[position[0]:position[0] + frames]
        out[:] = 0
        out[: len(chunk), 0] = chunk
        position[0] += frames

    mic = MicrophoneSource("system")
    assert mic.rate == 48_000
    player = sd.OutputStream(device=mic.device_index, channels=1, samplerate=48_000, dtype="float32", callback=play)
    try:
        ports = _jack_ports()
        inputs = [p for p in ports.split() if p.endswith(":in_0")]
        outputs = [p for p in ports.split() if p.endswith(":out_0")]
        assert inputs and outputs, ports
        subprocess.run(["jack_disconnect", "system:capture_1", inputs[0]], check=False)
        subprocess.run(["jack_connect", outputs[0], inputs[0]], check=True)  # the player feeds the microphone
        player.start()
        samples = []
        deadline = time.monotonic() + 20
        while position[0] < len(silence_then_speech) and time.monotonic() < deadline:
            sample = mic.read(timeout=2.0)
            assert sample is not None, "no audio from the JACK input"
            samples.append(sample)
    finally:
        player.close()
        mic.close()
    assert mic.read() is None
    times = np.array([s.capture_time_us for s in samples])
    assert len(samples) >= 200 and np.all(np.diff(times) == 10_000)
    now_us = time.monotonic_ns() // 1000
    assert now_us - 30_000_000 < times[0] < now_us
    jaw = np.array([s.weights[JAW] for s in samples])
    conf = np.array([s.confidence[JAW] for s in samples])
    assert jaw[:30].max() < 0.15 and jaw.max() > 0.3  # closed in the leading silence, open while speaking
    assert conf[:30].max() < 0.4 and conf.max() > 0.8


def test_missing_microphone_is_one_line_naming_it(jack_server: str) -> None:
    from codecav.encoders.audio.microphone import MicrophoneSource

    with pytest.raises(AudioDeviceError) as info:
        MicrophoneSource("no-such-mic-42")
    message = str(info.value)
    assert "'no-such-mic-42'" in message and "codecav devices" in message and "\n" not in message
    with pytest.raises(AudioDeviceError, match="no audio input device '97'"):
        MicrophoneSource(97)


def test_threads_do_not_share_driver_state(speech: tuple[np.ndarray, np.ndarray]) -> None:
    results: list[int] = []

    def run() -> None:
        d = AudioDriver()
        results.append(len(d.push(speech[0][:16_000]) + d.flush()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [len(log_mel(speech[0][:16_000]))] * 2
