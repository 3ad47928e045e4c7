"""Voice through a live loopback call, clean and under the user-space impairment (5 % loss and 30 ms jitter both
ways): what `voice_samples` plays matches what was sent, without gaps, with loss concealed and counted; the
baseline path (aiortc's decoded frames) is heard too; the join of each remote is timed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.net.call_session import CallSession
from codecav.net.impairment import Impairment, ImpairmentStats, impair
from codecav.net.signaling.server import SignalingServer
from codecav.net.voice import SAMPLE_RATE, VoiceTrack, wav_feed
from tests.net.calls import SECRET, send_frames, session

BLOCK = 960
"""Samples per output pull (20 ms, as the demo's virtual output)."""


def voiced(seconds: float) -> np.ndarray:
    """A known voiced signal: a pitch gliding over 110-330 Hz with its second harmonic, loudness swinging but never
    silent (Opus at a voice bitrate keeps its waveform; richer harmonics it codes by envelope, not by phase)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 220 + 80 * np.sin(2 * np.pi * 0.7 * t) + 30 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    wave = (np.sin(phase) + 0.3 * np.sin(2 * phase)) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.1 * t))
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


@dataclass
class Heard:
    """What bob's output played."""

    pcm: np.ndarray
    """Every sample pulled, in order."""
    play_us: list[int]
    """Play time of each 20 ms block (bob's clock)."""


async def play_out(call: CallSession, peer: str, blocks: list[np.ndarray], starts: list[int]) -> None:
    """A 20 ms audio output and a display of `peer`, paced on the call's clock, until cancelled."""
    begin = call.clock.now_us()
    for k in range(10**6):
        due = begin + k * 20_000
        if due > call.clock.now_us():
            await asyncio.sleep((due - call.clock.now_us()) / 1e6)
        call.remote_frame(peer, due)
        starts.append(due)
        blocks.append(call.voice_samples(due, BLOCK))


async def talk(tmp_path: Path, seconds: float, impairment: Impairment | None, voice_path: str = "codecav"
               ) -> tuple[CallSession, Heard, int, list[ImpairmentStats]]:
    """alice sends `voiced` and frames for `seconds`; bob plays both. Returns bob (stopped), what he heard, the
    capture time (alice's clock, the same monotonic clock) of the first sample sent, and the impairments."""
    sent = voiced(12.0)
    track = VoiceTrack(wav_feed(sent))
    async with SignalingServer("127.0.0.1", 0, SECRET) as server:
        alice = session(server, "alice", tmp_path, seed=1, voice_track=track, voice_path=voice_path)
        bob = session(server, "bob", tmp_path, seed=2, receive_voice=True, voice_path=voice_path)
        await alice.start()
        await bob.start()
        impaired: list[ImpairmentStats] = []
        try:
            await alice.wait_for_peers(1)
            await bob.wait_for_peers(1)
            if impairment is not None:
                impaired = [impair(alice._remotes["bob"].link, impairment),
                            impair(bob._remotes["alice"].link, impairment)]
            blocks: list[np.ndarray] = []
            starts: list[int] = []
            out = asyncio.create_task(play_out(bob, "alice", blocks, starts))
            await send_frames(alice, int(seconds * 30))
            out.cancel()
        finally:
            await alice.stop()
            await bob.stop()
    start_us = track.capture_us_of(0)
    assert start_us is not None
    return bob, Heard(np.concatenate(blocks), starts), start_us, impaired


def best_match(piece: np.ndarray, segment: np.ndarray) -> tuple[int, float]:
    """(offset, normalised correlation) where `piece` best matches inside `segment` (FFT cross-correlation)."""
    n = segment.size - piece.size + 1
    size = 1 << int(np.ceil(np.log2(segment.size + piece.size)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(piece, size)) * np.fft.rfft(segment, size), size)[:n]
    energy = np.concatenate([[0.0], np.cumsum(segment * segment)])
    norms = np.sqrt(np.maximum(energy[piece.size: piece.size + n] - energy[:n], 1e-12)) * np.linalg.norm(piece)
    score = corr / norms
    best = int(np.argmax(score))
    return best, float(score[best])


def match(heard: Heard, sent: np.ndarray, start_us: int, chunk: int = 4800) -> tuple[np.ndarray, np.ndarray]:
    """(normalised correlation, capture-to-ear delay ms) of each 100 ms of sound heard, against the sent audio
    captured up to 400 ms before it was heard."""
    scores, delays = [], []
    for p in range(0, heard.pcm.size - chunk + 1, chunk):
        piece = heard.pcm[p: p + chunk].astype(np.float64)
        if float(np.sqrt(np.mean(piece * piece))) < 0.01:
            continue
        block, within = divmod(p, BLOCK)
        play_us = heard.play_us[block] + within * 1e6 / SAMPLE_RATE
        latest = int((play_us - start_us) * SAMPLE_RATE / 1e6)
        lo = max(0, latest - int(0.4 * SAMPLE_RATE))
        segment = sent[lo: latest + chunk].astype(np.float64)
        if segment.size < chunk:
            continue
        offset, score = best_match(piece, segment)
        scores.append(score)
        delays.append((play_us - (start_us + (lo + offset) * 1e6 / SAMPLE_RATE)) / 1000)
    return np.asarray(scores), np.asarray(delays)


def longest_gap_ms(pcm: np.ndarray, step: int = 240) -> float:
    """Longest run of 5 ms steps without sound, between the first and the last sound."""
    rms = np.sqrt(np.mean(np.square(pcm[: pcm.size // step * step].reshape(-1, step)), axis=1))
    sound = np.flatnonzero(rms >= 0.01)
    if sound.size == 0:
        return float("inf")
    runs = np.diff(sound) - 1
    return float(runs.max(initial=0)) * step * 1000 / SAMPLE_RATE


def test_voice_under_loss_and_jitter_matches_what_was_sent(tmp_path: Path) -> None:
    impairment = Impairment(loss=0.05, delay_ms=30.0, jitter_ms=30.0, seed=5)
    bob, heard, start_us, impaired = asyncio.run(talk(tmp_path, 6.0, impairment))
    assert sum(i.dropped for i in impaired) > 10  # the impairment really dropped datagrams
    sent = voiced(12.0)
    scores, delays = match(heard, sent, start_us)
    assert scores.size > 30
    print(f"impaired: correlation p10 {np.percentile(scores, 10):.3f}, capture-to-ear p50 "
          f"{np.median(delays):.1f} ms p99 {np.percentile(delays, 99):.1f} ms")
    assert np.median(scores) > 0.9 and np.percentile(scores, 10) > 0.6  # what was sent, loss and all
    assert longest_gap_ms(heard.pcm) <= 60.0  # lost packets concealed or recovered, never a hole
    peer = next(p for p in (*bob.stats().peers, *bob.stats().departed) if p.peer == "alice")
    voice = peer.voice
    assert voice is not None and voice.path == "codecav"
    assert voice.lost > 0 and voice.fec_recovered + round(voice.loss_concealed_ms / 20) >= voice.lost
    assert voice.concealed_ms > 0
    assert peer.av_offset_ms and all(-30.5 <= o <= 60.5 for o in peer.av_offset_ms[-20:]), peer.av_offset_ms


def test_clean_voice_plays_soon_after_capture_and_the_join_is_timed(tmp_path: Path) -> None:
    bob, heard, start_us, _ = asyncio.run(talk(tmp_path, 4.0, None))
    scores, delays = match(heard, voiced(12.0), start_us)
    assert np.median(scores) > 0.95
    settled = delays[len(delays) // 2:]  # after the playout's cautious start
    print(f"clean: capture-to-ear p50 {np.median(settled):.1f} ms")
    assert 20.0 <= float(np.median(settled)) < 80.0  # a packet, a little jitter: nothing like aiortc's 80-300 ms
    assert longest_gap_ms(heard.pcm) <= 60.0
    peer = next(p for p in (*bob.stats().peers, *bob.stats().departed) if p.peer == "alice")
    join = peer.join
    steps = [join.signaling_us, join.ice_connected_us, join.dtls_connected_us, join.channels_open_us,
             join.avatar_fetched_us, join.avatar_verified_us]
    times = [step for step in steps if step is not None]
    assert len(times) == len(steps), join
    assert times == sorted(times) and not join.avatar_cached  # in order; the avatar was fetched


def test_the_baseline_path_plays_aiortcs_decoded_voice(tmp_path: Path) -> None:
    bob, heard, start_us, _ = asyncio.run(talk(tmp_path, 3.0, None, voice_path="aiortc"))
    scores, _ = match(heard, voiced(12.0), start_us)
    assert scores.size > 10 and np.median(scores) > 0.8  # heard (its pts-indexed pulls may slip a few samples)
    peer = next(p for p in (*bob.stats().peers, *bob.stats().departed) if p.peer == "alice")
    assert peer.voice is not None and peer.voice.path == "aiortc" and peer.audio_frames_received > 50
