"""VoiceReceiver: packets pushed on one thread, 10 ms chunks pulled on another, counters, and the face floor."""

from __future__ import annotations

import threading
from functools import partial

import numpy as np

from codecav.net.voice_playout import PlayoutDecision, VoicePacket
from codecav.net.voice_receiver import FaceDelay, VoiceReceiver
from tests.net.test_voice_playout import FakeDecoder, loud_tone


def packet(k: int, arrival_ms: float) -> VoicePacket:
    return VoicePacket(k & 0xFFFF, (5000 + 960 * k) & 0xFFFFFFFF, k.to_bytes(4, "big"), round(arrival_ms * 1e6))


def test_pushes_and_pulls_on_two_threads_play_every_packet() -> None:
    receiver = VoiceReceiver(decoder=FakeDecoder(loud_tone))
    errors: list[BaseException] = []
    chunks: list[np.ndarray] = []
    progress = threading.Condition()

    def push() -> None:  # the event loop's side: packet k once the output reached its arrival time (fake time)
        try:
            for k in range(300):
                due = (20 * k + 5 - 100 + 9) // 10  # chunks pulled by the time packet k arrives
                with progress:
                    progress.wait_for(partial(lambda n: len(chunks) >= n, due), 10)
                receiver.push(packet(k, k * 20 + 5))
                with progress:
                    progress.notify_all()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def pull() -> None:  # the voice output's side: each chunk once the packets arrived by then are in
        try:
            for i in range(620):
                arrived = min(300, (95 + 10 * i) // 20 + 1)  # packets arrived by chunk i's play time
                with progress:
                    progress.wait_for(partial(lambda n: receiver.frames >= n, arrived), 10)
                piece = receiver.chunk(round((100 + 10 * i) * 1e6), None)
                with progress:
                    chunks.append(piece)
                    progress.notify_all()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull), threading.Thread(target=push)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(chunks) == 620 and all(c.shape == (480,) for c in chunks)
    stats = receiver.stats()
    assert receiver.frames == stats.packets_received == 300 and stats.path == "codecav"
    assert stats.lost == 0 and stats.played_ms == 6200.0
    assert receiver.playout.stats.decisions.get(PlayoutDecision.NORMAL.value, 0) > 500
    assert stats.delay_ms is None  # no face, no latent transit: no capture time to tell


def test_the_face_floor_follows_the_voice_heard_and_the_voice_waits_for_a_slow_face() -> None:
    receiver = VoiceReceiver(decoder=FakeDecoder(loud_tone))
    slow_face = FaceDelay(delay_us=200_000, min_transit_us=5_000)
    for k in range(100):
        receiver.push(packet(k, k * 20 + 5))
    for i in range(150):
        now_ms = 100 + 10 * i
        receiver.sync.face_shown(now_ms * 1000, slow_face.delay_us)
        receiver.chunk(round(now_ms * 1e6), slow_face)
    # The voice waits for its face: its target is the face's delay - 30 ms (+5 ms tolerance) beyond the transit.
    assert receiver.playout.floor_ms == 200 - 30 + 5 - 5
    assert receiver.stats().target_delay_ms == receiver.playout.floor_ms
    now_us = (100 + 10 * 150) * 1000
    assert receiver.face_floor_us(now_us, slow_face) > 0.0
    assert np.isfinite(receiver.sync.offsets()).all()
