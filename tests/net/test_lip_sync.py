"""Lip-sync on fake time with scripted delays: a real face JitterBuffer and a real VoiceReceiver (fake decoder),
coupled as RemotePeer couples them (codecav.net.lip_sync): the face trails its voice by at most 30 ms, leads it
by at most 60 ms, and within that window neither waits longer than it must."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from codecav.latent import LatentFrame
from codecav.net.jitter_buffer import JitterBuffer, JitterConfig, PlayoutState
from codecav.net.lip_sync import LipSync, LipSyncConfig
from codecav.net.voice_playout import VoicePacket
from codecav.net.voice_receiver import FaceDelay, VoiceReceiver
from tests.net.test_voice_playout import FakeDecoder, quiet

TRANSIT_MS = 5.0
"""Fastest one-way transit of both media (one DTLS/UDP path)."""


@dataclass
class Run:
    """What the last seconds of a simulated call looked like."""

    face_delay_ms: float
    """Median face delay (capture to eye)."""
    face_needed_ms: float
    """What the face's own arrivals asked for (its target without the voice's floor), median."""
    voice_delay_ms: float
    """Median voice delay (capture to ear)."""
    voice_needed_ms: float
    """What the voice's own arrivals asked for (capture to ear), median."""
    offsets_ms: np.ndarray
    """Measured av offsets (+ = face ahead)."""


def simulate(face_jitter_ms: float, voice_jitter_ms: float, seconds: float = 16.0, seed: int = 0,
             voice_burst: tuple[float, float, float] | None = None,
             trace: list[tuple[float, float, float]] | None = None) -> Run:
    """Frames every 33.3 ms and voice packets every 20 ms with transit TRANSIT_MS + uniform(0, jitter) (the voice's
    jitter is `voice_burst` = (from s, to s, jitter ms) in that span); the voice output pulls every 10 ms, the display
    samples at 60 Hz; all on one fake millisecond clock. `trace` gets (s, face delay ms, voice delay ms) per second."""
    rng = np.random.default_rng(seed)
    face = JitterBuffer(4, JitterConfig(min_delay_ms=10))
    voice = VoiceReceiver(decoder=FakeDecoder(quiet), sync=LipSync(LipSyncConfig()))
    frames = [(k * 1e6 / 30 + (TRANSIT_MS + rng.uniform(0, face_jitter_ms)) * 1000, k)
              for k in range(int(seconds * 30))]

    def jitter_ms(k: int) -> float:
        burst = voice_burst is not None and voice_burst[0] <= k / 50 < voice_burst[1]
        return float(rng.uniform(0, voice_burst[2] if voice_burst is not None and burst else voice_jitter_ms))

    packets = [VoicePacket(k & 0xFFFF, (1234 + 960 * k) & 0xFFFFFFFF, k.to_bytes(4, "big"),
                           round((k * 20 + TRANSIT_MS + jitter_ms(k)) * 1e6)) for k in range(int(seconds * 50))]
    frames.sort()
    packets.sort(key=lambda p: p.arrival_ns)
    fi = pi = 0
    tail: dict[str, list[float]] = {"face": [], "face_needed": [], "voice": [], "voice_needed": []}
    for now_ms in range(int(seconds * 1000)):
        now_us = now_ms * 1000
        while fi < len(frames) and frames[fi][0] <= now_us:
            arrival, k = frames[fi]
            face.push(LatentFrame(k, int(k * 1e6 / 30), np.zeros(4, np.float32)), k * 1e6 / 30, int(arrival))
            fi += 1
        while pi < len(packets) and packets[pi].arrival_ns <= now_us * 1000:
            voice.push(packets[pi])
            pi += 1
        transit = face.min_transit_us
        state = FaceDelay(face.playout_delay_us, transit) if transit is not None else None
        if now_ms % 10 == 0:
            voice.chunk(now_us * 1000, state)
        if now_ms % 16 == 0:  # as RemotePeer.sample
            face.floor_us = 0.0
            needed = face.target_delay_us()  # what the face's own arrivals ask for
            face.floor_us = voice.face_floor_us(now_us, state) if state is not None else 0.0
            sample = face.sample(now_us)
            if sample.state is not PlayoutState.EMPTY:
                voice.sync.face_shown(now_us, sample.playout_delay_us)
            if trace is not None and voice.lags_us and (not trace or now_ms // 1000 > trace[-1][0]):
                trace.append((now_ms // 1000, sample.playout_delay_us / 1000, voice.lags_us[-1] / 1000))
            if now_ms > (seconds - 6) * 1000 and transit is not None:
                stats = voice.stats()
                tail["face"].append(sample.playout_delay_us / 1000)
                tail["face_needed"].append(needed / 1000)
                tail["voice"].append(stats.delay_ms or np.nan)
                tail["voice_needed"].append(voice.playout.needed_delay_ms() + transit / 1000)
    offsets = np.asarray(voice.sync.offsets()[-50:])
    face_ms, face_needed_ms, voice_ms, voice_needed_ms = (
        float(np.nanmedian(tail[key])) for key in ("face", "face_needed", "voice", "voice_needed"))
    return Run(face_ms, face_needed_ms, voice_ms, voice_needed_ms, offsets)


def test_a_jittery_voice_holds_the_face_back_to_60_ms_ahead_of_it() -> None:
    run = simulate(face_jitter_ms=0.0, voice_jitter_ms=120.0)
    assert run.voice_needed_ms > 110 and run.face_needed_ms < 50  # the voice needs far more than the face
    assert run.voice_delay_ms == pytest.approx(run.voice_needed_ms, abs=6.0)  # the voice waits only for itself
    # The face: 50 ms ahead (aiming 10 ms inside the 60 ms edge), no more.
    assert run.face_delay_ms == pytest.approx(run.voice_delay_ms - 50.0, abs=3.0)
    assert np.median(run.offsets_ms) == pytest.approx(50.0, abs=3.0)
    assert run.offsets_ms.max() <= 60.0  # the aim absorbs the voice correcting its own 5 ms


def test_a_jittery_face_holds_the_voice_back_to_30_ms_ahead_of_it() -> None:
    run = simulate(face_jitter_ms=150.0, voice_jitter_ms=0.0)
    assert run.face_needed_ms > 150 and run.voice_needed_ms < 40
    assert run.face_delay_ms == pytest.approx(run.face_needed_ms, abs=3.0)  # the face waits only for itself
    # The voice waits for its face: at most 30 ms ahead of it, within the playout's 5 ms tolerance of that.
    assert run.face_delay_ms - 30.0 <= run.voice_delay_ms <= run.face_delay_ms - 30.0 + 10.0
    assert run.offsets_ms.min() >= -30.0 - 1.0 and np.median(run.offsets_ms) <= -20.0


def test_inside_the_window_each_plays_at_its_own_delay() -> None:
    run = simulate(face_jitter_ms=20.0, voice_jitter_ms=30.0)
    assert run.face_delay_ms == pytest.approx(run.face_needed_ms, abs=3.0)
    assert run.voice_delay_ms == pytest.approx(run.voice_needed_ms, abs=6.0)
    assert -30.0 <= np.median(run.offsets_ms) <= 60.0


def test_after_a_burst_of_voice_jitter_face_and_voice_come_back_together() -> None:
    """The face follows the voice up; once the voice's jitter is over, the face speeds up (10 %) as the voice does,
    so neither holds the other up: both are back at their own delay about 3 s (the jitter window) after it."""
    trace: list[tuple[float, float, float]] = []
    run = simulate(face_jitter_ms=0.0, voice_jitter_ms=10.0, seconds=16.0, voice_burst=(4.0, 7.0, 250.0),
                   trace=trace)
    during = {int(t): (face, voice) for t, face, voice in trace}
    assert during[7][1] > 200 and during[7][0] > during[7][1] - 50 - 3  # the face followed the voice up
    assert during[11][0] < run.face_needed_ms + 3 and during[11][1] < 40  # 4 s after the burst: both back
    assert run.face_delay_ms == pytest.approx(run.face_needed_ms, abs=3.0)


def test_a_side_that_stopped_reporting_no_longer_holds_the_other() -> None:
    sync = LipSync(LipSyncConfig(stale_ms=250))
    sync.face_shown(1_000_000, 200_000)
    sync.voice_heard(1_000_000, 150_000)
    assert sync.voice_floor_us(1_100_000) == 170_000 and sync.face_floor_us(1_100_000) == 150_000 - 50_000
    assert sync.offsets() == (-50.0,)  # voice 150 ms after capture, face 200 ms: the voice is 50 ms ahead
    assert sync.voice_floor_us(1_300_000) == 0.0 and sync.face_floor_us(1_300_000) == 0.0
    with pytest.raises(ValueError, match="window"):
        LipSyncConfig(face_leads_max_ms=-1)

