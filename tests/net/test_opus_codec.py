"""Real libopus through OpusVoiceDecoder/OpusVoiceEncoder: round trip, PLC, in-band FEC, DTX and errors."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pytest

from codecav.net import opus_codec
from codecav.net.opus_codec import (
    OpusEncoderConfig,
    OpusPacketError,
    OpusUnavailableError,
    OpusVoiceDecoder,
    OpusVoiceEncoder,
    is_dtx_packet,
    opus_available,
)

pytestmark = pytest.mark.skipif(not opus_available(), reason="libopus missing: apt-get install libopus0")

SR = 48_000
FRAME = 960


def vowel(seconds: float = 2.0, f0: float = 220.0) -> np.ndarray:
    """A sung vowel: a gliding pitch, six harmonics with a falling spectrum, syllable-rate loudness."""
    t = np.arange(int(SR * seconds)) / SR
    phase = 2 * np.pi * np.cumsum(f0 + 20 * np.sin(2 * np.pi * 1.5 * t)) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 7)) * (0.55 + 0.45 * np.sin(2 * np.pi * 3 * t))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def encode_all(x: np.ndarray, config: OpusEncoderConfig | None = None) -> tuple[list[bytes], int]:
    encoder = OpusVoiceEncoder(config)
    return [encoder.encode(x[i:i + FRAME]) for i in range(0, len(x) - FRAME + 1, FRAME)], encoder.lookahead_samples


def decode_all(packets: list[bytes], lost: Collection[int] = (), mode: str = "plc") -> np.ndarray:
    decoder = OpusVoiceDecoder()
    out = []
    for i, payload in enumerate(packets):
        if i not in lost:
            out.append(decoder.decode(payload))
        elif mode == "fec":
            out.append(decoder.decode_fec(packets[i + 1], FRAME))
        else:
            out.append(decoder.conceal(FRAME))
    return np.concatenate(out)


def log_spectrogram(x: np.ndarray) -> np.ndarray:
    frames = x[: len(x) // FRAME * FRAME].reshape(-1, FRAME) * np.hanning(FRAME)
    return np.log10(np.abs(np.fft.rfft(frames, axis=1))[:, :200] + 1e-3)  # up to 10 kHz


def test_round_trip_keeps_the_voice() -> None:
    x = vowel()
    packets, delay = encode_all(x)
    assert all(0 < len(p) <= 1275 for p in packets)
    y = decode_all(packets)
    assert y.dtype == np.float32 and len(y) == len(packets) * FRAME
    aligned, original = y[delay + 4800:], x[4800: len(y) - delay]  # skip the encoder's first 100 ms
    assert np.corrcoef(aligned, original)[0, 1] > 0.8  # waveform (VOIP mode high-passes and sharpens)
    assert np.corrcoef(log_spectrogram(aligned).ravel(), log_spectrogram(original).ravel())[0, 1] > 0.88


def test_int16_output_matches_float_output() -> None:
    packets, _ = encode_all(vowel(0.5))
    floats, ints = OpusVoiceDecoder(), OpusVoiceDecoder("int16")
    for payload in packets:
        a, b = floats.decode(payload), ints.decode(payload)
        assert b.dtype == np.int16 and len(b) == len(a) == FRAME
        assert np.abs(a * 32768 - b).max() <= 2.0


def test_concealment_has_the_asked_length_and_carries_the_voice_on() -> None:
    packets, _ = encode_all(vowel(1.0))
    decoder = OpusVoiceDecoder()
    voiced = np.concatenate([decoder.decode(p) for p in packets[:30]])
    for samples in (120, 480, 960):
        plc = decoder.conceal(samples)
        assert plc.dtype == np.float32 and plc.shape == (samples,)
    plc = decoder.conceal(FRAME)
    level = np.sqrt(np.mean(voiced[-FRAME:] ** 2))
    assert np.sqrt(np.mean(plc**2)) > 0.1 * level  # not silence after voiced audio
    assert decoder.decode(packets[30]).shape == (FRAME,)  # and decoding goes on


def test_fec_recovers_a_lost_frame_better_than_concealment() -> None:
    x = vowel(3.0)
    packets, _ = encode_all(x, OpusEncoderConfig(fec=True, expected_loss_percent=10))
    reference = decode_all(packets)
    fec_error = plc_error = 0.0
    for k in range(20, len(packets) - 2, 9):
        span = slice(k * FRAME, (k + 1) * FRAME)
        fec_error += float(np.sum((decode_all(packets, {k}, "fec")[span] - reference[span]) ** 2))
        plc_error += float(np.sum((decode_all(packets, {k}, "plc")[span] - reference[span]) ** 2))
    assert fec_error < 0.5 * plc_error


def test_dtx_sends_tiny_packets_in_silence() -> None:
    silence = np.zeros(SR, np.float32)
    packets, _ = encode_all(silence, OpusEncoderConfig(dtx=True))
    assert sum(is_dtx_packet(p) for p in packets) > len(packets) // 2
    decoder = OpusVoiceDecoder()
    assert all(decoder.decode(p).shape == (FRAME,) for p in packets)  # comfort noise for DTX packets


def test_errors_name_what_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = OpusVoiceDecoder()
    with pytest.raises(OpusPacketError, match="not an Opus packet"):
        decoder.decode(b"\xff\xff\xff")
    with pytest.raises(OpusPacketError, match="conceal"):
        decoder.decode(b"")
    with pytest.raises(ValueError, match="multiple of 120"):
        decoder.conceal(100)
    with pytest.raises(ValueError, match="960 mono samples"):
        OpusVoiceEncoder().encode(np.zeros(480, np.float32))
    with pytest.raises(ValueError, match="frame_ms"):
        OpusEncoderConfig(frame_ms=30.0)
    with pytest.raises(ValueError, match="pcm_type"):
        OpusVoiceDecoder("float64")  # type: ignore[arg-type]

    def no_libopus() -> None:
        raise Exception("Could not find Opus library. Make sure it is installed.")

    monkeypatch.setattr(opus_codec, "_import_binding", no_libopus)
    with pytest.raises(OpusUnavailableError, match="apt-get install libopus0"):
        OpusVoiceDecoder()
    assert not opus_available()
