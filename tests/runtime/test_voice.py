"""Voice over a real aiortc connection on loopback: a WAV clip as a live Opus track, a recorder, and the
mouth-to-ear measurement that matches received audio to sent audio."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from codecav.net.peer import use_loopback_ice
from codecav.runtime.voice import (
    FRAME_SAMPLES,
    VOICE_RATE,
    SentVoice,
    VoiceFileError,
    VoiceRecorder,
    WavVoiceTrack,
    mouth_to_ear_ns,
    read_wav_mono,
    stream_offset,
)


def _chirps(seconds: float) -> np.ndarray:
    """A speech-like test signal: 150 ms tone bursts of changing pitch with gaps (unambiguous to correlate)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * VOICE_RATE)) / VOICE_RATE
    out = np.zeros_like(t)
    for start in np.arange(0.0, seconds - 0.2, 0.25):
        f = rng.uniform(200, 900)
        m = (t >= start) & (t < start + 0.15)
        out[m] = 0.4 * np.sin(2 * np.pi * f * (t[m] - start)) * np.hanning(m.sum())
    return out.astype(np.float32)


def test_read_wav_resamples_to_48k(tmp_path: Path) -> None:
    path = tmp_path / "v.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(1600) / 10) * 10000).astype("<i2").tobytes())
    samples = read_wav_mono(path)
    assert samples.size == 4800 and samples.dtype == np.float32 and 0.25 < np.abs(samples).max() < 0.35
    with pytest.raises(VoiceFileError, match=r"cannot read voice file .*; give a 16-bit PCM WAV"):
        read_wav_mono(tmp_path / "missing.wav")


def test_stream_offset_finds_a_known_delay() -> None:
    sent = _chirps(3.0)
    received = np.concatenate([np.zeros(0, np.float32), sent[1234:]]) * 0.8
    offset, corr = stream_offset(received, sent)
    assert offset == 1234 and corr > 0.99


def test_voice_over_webrtc_loopback_measures_mouth_to_ear() -> None:
    use_loopback_ice()

    async def body() -> tuple[np.ndarray, float]:
        a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        sent = SentVoice()
        track = WavVoiceTrack(_chirps(2.0), sent)
        a.addTrack(track)
        recorder = VoiceRecorder()
        tasks: list[asyncio.Task[None]] = []
        b.on("track", lambda t: tasks.append(asyncio.ensure_future(recorder.consume("alice", t))))
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await asyncio.sleep(3.0)
        await a.close()
        await b.close()
        for task in tasks:
            task.cancel()
        return mouth_to_ear_ns(recorder.received["alice"], sent, clock_offset_ns=0.0)

    delays, corr = asyncio.run(body())
    assert corr > 0.7, "received voice should match what was sent"
    assert delays.size > 50
    p50 = float(np.median(delays)) / 1e6
    # At least one 20 ms frame of packetization; well under a second on loopback.
    assert 20.0 <= p50 < 400.0, p50
    assert FRAME_SAMPLES == 960
