"""VoicePlayout's decisions on scripted arrivals and fake time: target, conceal, FEC, speed-up, slow-down, bounds.

A fake decoder maps each payload (the packet's index) to known PCM, so every output sample can be traced back.
Timestamps and sequence numbers start just below their wrap-around on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pytest

from codecav.errors import CodecavError
from codecav.net.opus_codec import OpusEncoderConfig, OpusVoiceDecoder, OpusVoiceEncoder, opus_available
from codecav.net.voice_playout import (
    CHUNK_SAMPLES,
    PlayoutChunk,
    PlayoutDecision,
    VoicePacket,
    VoicePlayout,
    VoicePlayoutConfig,
)
from codecav.net.voice_stretch import best_period, remove_span, repeat_span

FRAME = 960
SEQ0 = 65_500
TS0 = 2**32 - 48_000
TRANSIT_MS = 5.0
Source = Callable[[int], np.ndarray]


def quiet(index: int) -> np.ndarray:
    """-60 dBFS noise: quiet enough to be cut or repeated anywhere."""
    return (np.random.default_rng(index).standard_normal(FRAME) * 0.001).astype(np.float32)


def loud_noise(index: int) -> np.ndarray:
    """Loud noise-like sound (a fricative): no quiet stretch, no period, so never stretched."""
    return np.random.default_rng(index).uniform(-0.6, 0.6, FRAME).astype(np.float32)


def loud_tone(index: int) -> np.ndarray:
    """A loud 200 Hz tone continuous across packets: voiced, one period = 5 ms."""
    n = np.arange(index * FRAME, (index + 1) * FRAME)
    return (0.5 * np.sin(2 * np.pi * 200 * n / 48_000)).astype(np.float32)


class FakeDecoder:
    """Payload = 4-byte packet index; decode gives source(index), FEC the true lost frame, PLC zeros."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.calls: list[str] = []

    def decode(self, payload: bytes) -> np.ndarray:
        if payload.startswith(b"BAD"):
            raise CodecavError("not a packet of this stream")
        self.calls.append("decode")
        return self.source(int.from_bytes(payload[:4], "big"))

    def conceal(self, samples: int) -> np.ndarray:
        assert samples % 120 == 0
        self.calls.append("conceal")
        return np.zeros(samples, np.float32)

    def decode_fec(self, next_payload: bytes, samples: int) -> np.ndarray:
        self.calls.append("fec")
        return self.source(int.from_bytes(next_payload[:4], "big") - 1)[-samples:]


def packet(index: int, arrival_ms: float, *, sequence: int | None = None, payload: bytes | None = None) -> VoicePacket:
    """Packet `index` (20 ms each), captured at index * 20 ms."""
    return VoicePacket(sequence=(SEQ0 + (index if sequence is None else sequence)) & 0xFFFF,
                       rtp_timestamp=(TS0 + FRAME * index) & 0xFFFFFFFF,
                       payload=index.to_bytes(4, "big") if payload is None else payload,
                       arrival_ns=round(arrival_ms * 1e6))


def on_time(indices: Iterable[int], jitter_ms: Callable[[int], float] = lambda i: 0.0) -> list[VoicePacket]:
    return [packet(i, i * 20 + TRANSIT_MS + jitter_ms(i)) for i in indices]


def simulate(playout: VoicePlayout, packets: list[VoicePacket], seconds: float,
             phase_ms: float = 5.0) -> list[PlayoutChunk]:
    """Push each packet when it arrives and pull every 10 ms (at phase_ms + 10 k); every chunk is 10 ms."""
    pending = sorted(packets, key=lambda p: p.arrival_ns)
    chunks, i = [], 0
    for k in range(round(seconds * 100)):
        now_ns = round((phase_ms + 10 * k) * 1e6)
        while i < len(pending) and pending[i].arrival_ns <= now_ns:
            playout.push(pending[i])
            i += 1
        chunk = playout.pull(now_ns)
        assert chunk.pcm.shape == (CHUNK_SAMPLES,) and chunk.pcm.dtype == np.float32
        chunks.append(chunk)
    return chunks


def decisions(chunks: list[PlayoutChunk]) -> list[PlayoutDecision]:
    return [c.decision for c in chunks]


def slot(index: int) -> int:
    return (TS0 + FRAME * index) & 0xFFFFFFFF


def played(chunks: list[PlayoutChunk], index: int) -> np.ndarray:
    """The 20 ms played for packet `index` (no stretching in between)."""
    by_ts = {c.rtp_timestamp: c.pcm for c in chunks}
    return np.concatenate([by_ts[slot(index)], by_ts[(slot(index) + CHUNK_SAMPLES) & 0xFFFFFFFF]])


def steady(delay_ms: float, **overrides: Any) -> VoicePlayoutConfig:
    """A config whose target stays at `delay_ms` on a clean network (no stretching to disturb a test)."""
    return VoicePlayoutConfig(min_delay_ms=delay_ms, initial_delay_ms=delay_ms, **overrides)


def test_buffers_until_the_start_delay_then_plays_every_sample_in_order() -> None:
    playout = VoicePlayout(FakeDecoder(loud_noise))
    chunks = simulate(playout, on_time(range(100)), 1.5)
    first = next(k for k, c in enumerate(chunks) if c.decision is not PlayoutDecision.BUFFERING)
    assert chunks[first].delay_ms == pytest.approx(80.0)  # cautious start
    assert chunks[first].rtp_timestamp == slot(0)
    assert all(c.decision is PlayoutDecision.NORMAL for c in chunks[first:first + 90])
    out = np.concatenate([c.pcm for c in chunks[first:first + 90]])
    np.testing.assert_array_equal(out, np.concatenate([loud_noise(i) for i in range(45)]))
    assert playout.stats.lost == playout.stats.concealed_samples == 0


def test_clean_arrivals_bring_the_target_down_to_one_packet() -> None:
    playout = VoicePlayout(FakeDecoder(quiet))
    chunks = simulate(playout, on_time(range(250)), 4.8)
    assert chunks[20].target_delay_ms == 80.0  # still warming up
    assert chunks[-1].target_delay_ms == pytest.approx(20.0)
    assert abs(chunks[-1].delay_ms - 20.0) <= playout.config.tolerance_ms
    assert PlayoutDecision.ACCELERATE in decisions(chunks)
    assert PlayoutDecision.CONCEAL not in decisions(chunks)


def test_30ms_jitter_raises_the_target_and_playout_keeps_up() -> None:
    rng = np.random.default_rng(7)
    jitter = rng.uniform(0.0, 30.0, 400)
    playout = VoicePlayout(FakeDecoder(quiet))
    chunks = simulate(playout, on_time(range(400), lambda i: float(jitter[i])), 7.8)
    target = chunks[-1].target_delay_ms
    assert 35.0 <= target <= 45.0  # 95th percentile (~28.5 ms) + 10 ms margin
    assert abs(chunks[-1].delay_ms - target) <= playout.config.tolerance_ms + 5.0
    assert playout.stats.lost == 0 and playout.stats.late == 0
    assert decisions(chunks[-300:]).count(PlayoutDecision.CONCEAL) <= 3


def test_a_lost_packet_is_recovered_by_fec_from_the_next_packet() -> None:
    decoder = FakeDecoder(loud_noise)
    playout = VoicePlayout(decoder, steady(60.0))
    chunks = simulate(playout, [p for p in on_time(range(150)) if p.sequence != (SEQ0 + 100) & 0xFFFF], 3.0)
    fec = [c for c in chunks if c.decision is PlayoutDecision.FEC]
    assert [c.rtp_timestamp for c in fec] == [slot(100)]
    np.testing.assert_array_equal(played(chunks, 100), loud_noise(100))
    np.testing.assert_array_equal(played(chunks, 101), loud_noise(101))
    assert playout.stats.lost == playout.stats.fec_recovered == 1
    assert PlayoutDecision.CONCEAL not in decisions(chunks)


def test_a_lost_packet_is_concealed_when_fec_is_off_or_the_next_one_is_lost_too() -> None:
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(60.0, fec=False))
    chunks = simulate(playout, [p for p in on_time(range(150)) if p.payload != (100).to_bytes(4, "big")], 3.0)
    assert [c.rtp_timestamp for c in chunks if c.decision is PlayoutDecision.CONCEAL] == [slot(100)]
    assert not played(chunks, 100).any()  # the fake PLC is silence
    assert playout.stats.lost == 1 and playout.stats.fec_recovered == 0

    playout = VoicePlayout(FakeDecoder(loud_noise), steady(60.0))
    chunks = simulate(playout, [p for p in on_time(range(150)) if p.payload not in (b"\0\0\0d", b"\0\0\0e")], 3.0)
    made = {c.rtp_timestamp: c.decision for c in chunks}
    assert made[slot(100)] is PlayoutDecision.CONCEAL  # 101 is lost too: no FEC for 100
    assert made[slot(101)] is PlayoutDecision.FEC  # 102 carries 101
    np.testing.assert_array_equal(played(chunks, 101), loud_noise(101))
    assert playout.stats.lost == 2


def test_a_packet_after_its_slot_was_concealed_is_dropped_as_late() -> None:
    packets = on_time(range(150))
    packets[100] = packet(100, packets[100].arrival_ns / 1e6 + 150.0)
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(60.0))
    chunks = simulate(playout, packets, 3.0)
    assert playout.stats.late == 1 and playout.stats.lost == 1
    assert {c.rtp_timestamp: c.decision for c in chunks}[slot(100)] is PlayoutDecision.FEC
    np.testing.assert_array_equal(played(chunks, 102), loud_noise(102))


def test_a_late_burst_is_waited_for_by_concealing_and_the_delay_grows() -> None:
    packets = on_time(range(150))
    for i in range(100, 104):  # held 45 ms by the network, then delivered together
        packets[i] = packet(i, 100 * 20 + TRANSIT_MS + 45.0 + 0.01 * (i - 100))
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(20.0, max_delay_ms=400.0))
    chunks = simulate(playout, packets, 3.0)
    assert playout.stats.lost == 0 and playout.stats.late == 0  # nothing dropped: the wait was concealed
    assert PlayoutDecision.CONCEAL in decisions(chunks)
    np.testing.assert_array_equal(played(chunks, 100), loud_noise(100))
    assert chunks[-1].delay_ms >= 20.0 + 20.0  # loud noise cannot be cut: the delay stays up


def test_above_target_it_accelerates_only_where_it_cannot_be_heard() -> None:
    playout = VoicePlayout(FakeDecoder(loud_noise))
    chunks = simulate(playout, on_time(range(150)), 2.8)
    assert chunks[-1].target_delay_ms == pytest.approx(20.0)
    assert chunks[-1].delay_ms == pytest.approx(80.0)  # loud noise: never cut
    assert PlayoutDecision.ACCELERATE not in decisions(chunks)

    playout = VoicePlayout(FakeDecoder(loud_tone))
    chunks = simulate(playout, on_time(range(150)), 2.8)
    assert PlayoutDecision.ACCELERATE in decisions(chunks)
    assert abs(chunks[-1].delay_ms - 20.0) <= playout.config.tolerance_ms
    assert playout.stats.accelerated_samples % 240 == 0  # whole 5 ms periods of the tone
    out = np.concatenate([c.pcm for c in chunks if c.decision is not PlayoutDecision.BUFFERING])
    tone_step = np.abs(np.diff(loud_tone(0))).max()
    assert np.abs(np.diff(out)).max() <= 1.05 * tone_step  # no click where periods were cut
    # Voiced sound is sped up by at most max_voiced_stretch (a quarter) of what is played.
    played_samples = CHUNK_SAMPLES * sum(c.decision is not PlayoutDecision.BUFFERING for c in chunks)
    assert playout.stats.accelerated_samples <= 0.25 * played_samples + 720


def test_below_target_it_slows_down_before_packets_come_too_late() -> None:
    # Every 4th packet is 18 ms late: the target rises to ~28 ms while the delay started at 20 ms.
    packets = on_time(range(150), lambda i: 18.0 if i % 4 == 3 else 0.0)
    playout = VoicePlayout(FakeDecoder(quiet), steady(20.0))
    chunks = simulate(playout, packets, 3.0)
    started = [c for c in chunks if c.decision is not PlayoutDecision.BUFFERING]
    assert started[0].delay_ms == pytest.approx(20.0)
    assert PlayoutDecision.SLOW_DOWN in decisions(chunks)
    assert PlayoutDecision.CONCEAL not in decisions(chunks)
    assert chunks[-1].target_delay_ms == pytest.approx(28.0, abs=0.5)
    assert chunks[-1].delay_ms >= chunks[-1].target_delay_ms - playout.config.tolerance_ms
    assert playout.stats.slowed_samples > 0


def test_a_sender_pause_with_consecutive_sequence_numbers_is_not_a_loss() -> None:
    # DTX: packets 50..59 are never sent, but sequence numbers stay consecutive.
    packets = [packet(i, i * 20 + TRANSIT_MS, sequence=i if i < 50 else i - 10) for i in range(150) if not 50 <= i < 60]
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(60.0))
    chunks = simulate(playout, packets, 3.0)
    assert playout.stats.lost == 0 and playout.stats.concealed_samples == 10 * FRAME
    assert PlayoutDecision.FEC not in decisions(chunks)
    np.testing.assert_array_equal(played(chunks, 60), loud_noise(60))


def test_a_stopped_stream_fades_to_buffering_and_starts_again() -> None:
    packets = [p for p in on_time(range(200)) if not 60 <= int.from_bytes(p.payload, "big") < 100]
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(40.0, max_expand_ms=100.0))
    chunks = simulate(playout, packets, 4.0)
    made = decisions(chunks)
    first = made.index(PlayoutDecision.NORMAL)
    resumed = made.index(PlayoutDecision.BUFFERING, first)
    assert made[resumed - 10:resumed] == [PlayoutDecision.CONCEAL] * 10  # 100 ms of concealment
    assert PlayoutDecision.NORMAL in made[resumed:]
    assert playout.stats.restarts == 1 and playout.stats.lost == 0
    np.testing.assert_array_equal(played(chunks, 120), loud_noise(120))


def test_after_pulls_stop_for_a_while_it_skips_back_to_the_target() -> None:
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(40.0))
    packets = on_time(range(150))
    simulate(playout, packets[:50], 1.0)
    for p in packets[50:120]:  # 1.4 s of arrivals while nobody pulls
        playout.push(p)
    chunk = playout.pull(round(120 * 20e6 + 5e6))
    assert playout.stats.skips == 1
    assert chunk.delay_ms == pytest.approx(40.0, abs=20.0)


def test_invalid_duplicate_and_refused_payloads() -> None:
    decoder = FakeDecoder(loud_noise)
    playout = VoicePlayout(decoder, steady(60.0))
    packets = on_time(range(100))
    packets[40] = packet(40, packets[40].arrival_ns / 1e6, payload=b"BAD!")
    extra = [packet(10, 300.0), packet(11, 205.0, payload=b""), packet(12, 245.0, payload=bytes(2000))]
    chunks = simulate(playout, packets + extra, 2.0)
    assert playout.stats.invalid == 2 and playout.stats.decode_errors == 1
    assert playout.stats.duplicates + playout.stats.old == 1
    assert {c.rtp_timestamp: c.decision for c in chunks}[slot(40)] is PlayoutDecision.CONCEAL
    assert playout.stats.lost == 0


def test_a_flood_cannot_grow_the_buffer() -> None:
    playout = VoicePlayout(FakeDecoder(loud_noise))
    simulate(playout, on_time(range(50)), 1.0)
    rng = np.random.default_rng(3)
    for k in range(20_000):
        now_ms = 1000.0 + k * 0.05
        playout.push(VoicePacket(int(rng.integers(0, 1 << 16)), int(TS0 + FRAME * 50 + rng.integers(0, 48_000)) % 2**32,
                                 bytes(int(rng.integers(1, 1400))), round(now_ms * 1e6)))
        assert playout.held_packets <= playout.config.capacity_packets
        if k % 200 == 0:
            assert playout.pull(round(now_ms * 1e6)).pcm.shape == (CHUNK_SAMPLES,)
    assert playout.stats.overflow > 0
    assert len(playout._arrivals) <= playout.config.jitter_window_packets


def test_a_sender_that_restarts_its_timestamps_is_followed() -> None:
    playout = VoicePlayout(FakeDecoder(loud_noise), steady(40.0))
    packets = on_time(range(100))
    jumped = [VoicePacket((p.sequence + 3000) & 0xFFFF, (p.rtp_timestamp + 10**9) & 0xFFFFFFFF, p.payload,
                          p.arrival_ns) for p in on_time(range(100, 200))]
    chunks = simulate(playout, packets + jumped, 4.0)
    assert playout.stats.out_of_range == playout.config.max_jump_packets - 1
    assert playout.stats.restarts == 1
    assert decisions(chunks)[-50:] == [PlayoutDecision.NORMAL] * 50


def speech_like(index: int) -> np.ndarray:
    """Alternating voiced, fricative and quiet stretches of 60-100 ms."""
    kind = (index // 4 + index // 5) % 3
    return (loud_tone, loud_noise, quiet)[kind](index)


@pytest.mark.parametrize("seed", range(4))
def test_any_arrival_pattern_gives_10ms_chunks_and_bounded_delay(seed: int) -> None:
    rng = np.random.default_rng(seed)
    packets = [p for p in on_time(range(500), lambda i: float(rng.uniform(0, 30) + (60 if rng.random() < 0.01 else 0)))
               if rng.random() > 0.05]
    packets += [packets[int(k)] for k in rng.integers(0, len(packets), 20)]  # duplicates
    playout = VoicePlayout(FakeDecoder(speech_like))
    chunks = simulate(playout, packets, 10.5)  # asserts 480 float32 samples per pull
    out = np.concatenate([c.pcm for c in chunks])
    assert np.isfinite(out).all() and np.abs(out).max() <= 0.6  # crossfades never overshoot
    delays = np.array([c.delay_ms for c in chunks if c.decision is not PlayoutDecision.BUFFERING])
    assert delays.max() <= playout.config.max_delay_ms
    assert np.median(delays[-300:]) <= 80.0
    assert playout.stats.accelerated_samples > 0 and playout.stats.duplicates + playout.stats.old >= 20


def test_stretch_primitives_cut_and_repeat_one_period_seamlessly() -> None:
    tone = np.concatenate([loud_tone(0), loud_tone(1)])
    assert best_period(tone.astype(np.float64), 240, 120, 720, 0.9) in (240, 480, 720)  # 5 ms periods
    assert best_period(loud_noise(0).astype(np.float64), 240, 120, 600, 0.9) is None
    cut, longer = remove_span(tone, 100, 240, 120), repeat_span(tone, 100, 240, 120)
    assert len(cut) == len(tone) - 240 and len(longer) == len(tone) + 240
    np.testing.assert_allclose(cut[:1000], tone[240:1240], atol=1e-5)  # one period shorter, same waveform
    np.testing.assert_allclose(longer[240:1240], tone[:1000], atol=1e-5)


@pytest.mark.parametrize("field,value", [("min_delay_ms", 0.0), ("initial_delay_ms", 1000.0),
                                         ("jitter_quantile", 1.0), ("min_pitch_ms", 20.0),
                                         ("capacity_packets", 0), ("quiet_level_dbfs", 3.0),
                                         ("max_voiced_stretch", 0.9)])
def test_config_rejects_inconsistent_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        VoicePlayoutConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.skipif(not opus_available(), reason="libopus missing: apt-get install libopus0")
def test_real_opus_through_the_playout_with_loss_and_jitter() -> None:
    sr, seconds = 48_000, 3.0
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * np.cumsum(220 + 20 * np.sin(2 * np.pi * 1.5 * t)) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 7)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t) ** 2)
    voice = (0.4 * voice / np.abs(voice).max()).astype(np.float32)
    encoder = OpusVoiceEncoder(OpusEncoderConfig(expected_loss_percent=10))
    payloads = [encoder.encode(voice[i:i + FRAME]) for i in range(0, len(voice), FRAME)]
    rng = np.random.default_rng(11)
    packets = [packet(i, i * 20 + TRANSIT_MS + rng.uniform(0, 30), payload=payloads[i])
               for i in range(len(payloads)) if i % 20 != 7]  # 5 % loss, 30 ms jitter
    playout = VoicePlayout(OpusVoiceDecoder())
    chunks = simulate(playout, packets, seconds + 0.3)
    assert playout.stats.lost == 8 and playout.stats.fec_recovered >= 6 and playout.stats.late == 0
    out = np.concatenate([c.pcm for c in chunks if c.decision is not PlayoutDecision.BUFFERING])
    level = np.sqrt(np.mean(np.square(out[: len(voice)].reshape(-1, CHUNK_SAMPLES)), axis=1))
    assert level.min() > 0.02  # voice all along: no gap, whatever was lost or late
