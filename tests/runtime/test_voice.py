"""Mouth-to-ear measurement: stream alignment on known delays, and voice over a real aiortc connection on
loopback (VoiceTrack from a clip-aligned feed -> RTP packets tapped before aiortc's jitter buffer -> codecav's
VoiceReceiver, mixed on a playout clock and pulled by a virtual output)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection

from codecav.clock import MONOTONIC, FakeClock
from codecav.net.peer import use_loopback_ice
from codecav.net.rtp_tap import tap_audio_track
from codecav.net.voice import VoiceTrack
from codecav.net.voice_mix import VoiceMix
from codecav.net.voice_receiver import VoiceReceiver
from codecav.runtime.voice import (
    FRAME_SAMPLES,
    VOICE_RATE,
    ReceivedVoice,
    SentVoice,
    VirtualOutput,
    clip_feed,
    mouth_to_ear_ns,
)


def _bursts(seconds: float, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: 150 ms tone bursts of changing pitch with gaps (unambiguous to correlate)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * VOICE_RATE)) / VOICE_RATE
    out = np.zeros_like(t)
    for start in np.arange(0.0, seconds - 0.2, 0.25):
        f = rng.uniform(200, 900)
        m = (t >= start) & (t < start + 0.15)
        out[m] = 0.4 * np.sin(2 * np.pi * f * (t[m] - start)) * np.hanning(m.sum())
    return out.astype(np.float32)


def test_mouth_to_ear_on_streams_with_a_known_delay_and_clock_offset() -> None:
    sent_samples = _bursts(4.0)
    sent = SentVoice([sent_samples[i:i + FRAME_SAMPLES] for i in range(0, sent_samples.size, FRAME_SAMPLES)],
                     start_ns=5_000_000_000 + 300_000_000)  # on the sender's clock, 300 ms ahead of ours
    delay = int(0.080 * VOICE_RATE)  # 80 ms
    rx = np.concatenate([np.zeros(delay, np.float32), sent_samples])[: sent_samples.size]
    # The receiver's output started at the same instant as the sender's track (5.0 s on its own clock).
    received = ReceivedVoice([rx[i:i + FRAME_SAMPLES] for i in range(0, rx.size, FRAME_SAMPLES)],
                             [5_000_000_000 + i * 20_000_000 for i in range(rx.size // FRAME_SAMPLES)])
    m2e = mouth_to_ear_ns(received, sent, clock_offset_ns=300_000_000)
    assert m2e.correlation > 0.99
    assert m2e.delay_ns.size == m2e.handoff_ns.size > 30  # one per 100 ms chunk with sound
    assert np.allclose(m2e.delay_ns / 1e6, 80.0, atol=0.01)


def test_clip_feed_joins_the_clip_where_its_clock_is() -> None:
    clip = np.arange(VOICE_RATE, dtype=np.float32)  # 1 s ramp
    log = SentVoice()
    fake = FakeClock(10_000_000_000)
    feed = clip_feed(clip, fake.now_ns() - 250_000_000, log, clock=fake)  # clip time 0 was 250 ms ago
    first, second = feed(FRAME_SAMPLES), feed(FRAME_SAMPLES)
    assert first is not None and second is not None
    assert first[0] == 0.25 * VOICE_RATE and log.start_ns == fake.now_ns()
    assert second[0] == first[-1] + 1


def test_voice_over_webrtc_loopback_measures_mouth_to_ear() -> None:
    use_loopback_ice()
    receiver = VoiceReceiver()
    sent = SentVoice()
    errors: list[str] = []

    async def body() -> None:
        a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        a.addTrack(VoiceTrack(clip_feed(_bursts(2.0), MONOTONIC.now_ns(), sent)))
        b.on("track", lambda t: tap_audio_track(b, t, receiver.push, errors))
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await asyncio.sleep(3.0)
        await a.close()
        await b.close()

    # The call's output path: 10 ms chunks of the receiver on one playout clock (no face here to wait for).
    mix = VoiceMix(lambda: [lambda play_ns: receiver.chunk(play_ns, None)])
    output = VirtualOutput(mix.samples)
    output.start()
    asyncio.run(body())
    output.stop()
    assert not errors
    m2e = mouth_to_ear_ns(output.taken, sent, clock_offset_ns=0.0)
    assert m2e.correlation > 0.7, "the output should play what was sent"
    assert m2e.delay_ns.size > 15
    p50 = float(np.median(m2e.delay_ns)) / 1e6
    # The playout waits at least one 20 ms packet after the fastest arrival, and far less than aiortc's buffer did.
    assert 20.0 <= p50 < 150.0, p50
    # After the playout's cautious start (80 ms until 25 packets have been seen) the delay holds steady.
    settled = m2e.delay_ns[m2e.handoff_ns >= m2e.handoff_ns[0] + 1_000_000_000]
    assert settled.size > 5
    assert float(np.percentile(settled, 90) - np.percentile(settled, 10)) / 1e6 < 40.0, "steady delay"


def test_recorded_voice_can_go_to_disk_as_it_comes(tmp_path: Path) -> None:
    blocks = [np.full(FRAME_SAMPLES, i, np.float32) for i in range(5)]
    sent = SentVoice(spill=tmp_path / "sent.f32")
    received = ReceivedVoice(spill=tmp_path / "received.f32")
    for i, block in enumerate(blocks):
        sent.add(block)
        received.add(block, i * 20_000_000)
    assert sent.samples == [] and received.samples == []  # nothing kept in memory
    np.testing.assert_array_equal(sent.stream(), np.concatenate(blocks))
    np.testing.assert_array_equal(received.stream(), np.concatenate(blocks))
    assert received.handoff_ns == [i * 20_000_000 for i in range(5)]
    assert (tmp_path / "sent.f32").stat().st_size == 5 * FRAME_SAMPLES * 4
