"""One remote voice on codecav's own receive path: RTP packets in, 10 ms of PCM out, in sync with the face.

Packets come from `codecav.net.rtp_tap` on the event loop as they arrive (before aiortc's jitter buffer);
10 ms chunks are pulled from the voice output thread (`CallBase.voice_samples`) at their play time on the call's
clock. Between the two sits `codecav.net.voice_playout.VoicePlayout` with libopus (`OpusVoiceDecoder`: decode,
concealment, in-band FEC) behind one lock; decoding happens on the pulling thread, never on the event loop.

Capture times. The sender's `VoiceTrack` stamps RTP timestamps from its capture clock (one 48 kHz tick per
sample, each packet sent when its first sample is due), but with a random origin that aiortc picks and does not
expose, so the receiver anchors RTP time to capture time the way it did before: the fastest voice packet and the
fastest latent frame took the same path (one DTLS/UDP association), so a chunk whose playout delay beyond the
voice's fastest transit is D was captured D + (the latent channel's fastest transit) before it is heard. Its
error is the difference of the two media's send lags (the face's encoder takes a few ms more than Opus), well
inside the lip-sync window. Carrying the mapping explicitly would need a control message per link or aiortc's
sender origin (private); not worth it for a few ms.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from codecav.net.call_types import VoiceReceiveStats
from codecav.net.lip_sync import LipSync
from codecav.net.voice_playout import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    PlayoutDecision,
    VoiceDecoder,
    VoicePacket,
    VoicePlayout,
    VoicePlayoutConfig,
)

DELAYS_KEPT = 6000
"""Playout delays kept (one per 10 ms chunk: a minute), for benchmarks."""


@dataclass(frozen=True)
class FaceDelay:
    """What the voice needs to know of its face's jitter buffer, read at one instant."""

    delay_us: float
    """The face's current capture-to-eye delay."""
    min_transit_us: float
    """The latent channel's fastest recent transit (arrival - capture on this clock)."""


class RemoteVoice(Protocol):
    """A remote participant's received voice, as RemotePeer and CallBase use it (VoiceReceiver, or the baseline)."""

    sync: LipSync
    """Couples this voice with its face and measures their offset."""

    @property
    def frames(self) -> int:
        """Voice frames received."""
        ...

    @property
    def lags_us(self) -> deque[float]:
        """Per frame or chunk played, how long the voice waited after its fastest possible arrival (benchmarks)."""
        ...

    def chunk(self, play_ns: int, face: FaceDelay | None) -> np.ndarray | None:
        """The 10 ms (480 samples) heard from `play_ns` (call clock); None when there is nothing to play."""
        ...

    def face_floor_us(self, now_us: float, face: FaceDelay) -> float:
        """The least delay the face may have at `now_us` so that it stays in sync with this voice."""
        ...

    def stats(self) -> VoiceReceiveStats:
        """Counters of this voice."""
        ...


def _opus_decoder() -> VoiceDecoder:
    from codecav.net.opus_codec import OpusVoiceDecoder

    return OpusVoiceDecoder()


class VoiceReceiver:
    """Thread-safe VoicePlayout of one remote voice: `push` on the event loop, `chunk` from the output thread."""

    def __init__(self, config: VoicePlayoutConfig | None = None, decoder: VoiceDecoder | None = None,
                 sync: LipSync | None = None) -> None:
        """A receiver decoding with `decoder` (a fresh OpusVoiceDecoder by default: OpusUnavailableError if
        libopus is missing) and coupled to its face through `sync`."""
        self._lock = threading.Lock()
        self._playout = VoicePlayout(decoder if decoder is not None else _opus_decoder(), config)
        self.sync = sync or LipSync()
        """Couples this voice with its face and measures their offset."""
        self._packets = 0
        self._played = 0
        self._delay_us: float | None = None
        self._lags_us: deque[float] = deque(maxlen=DELAYS_KEPT)

    @property
    def frames(self) -> int:
        """Voice packets received."""
        return self._packets

    @property
    def lags_us(self) -> deque[float]:
        """Playout delay D (µs) of each chunk of received audio played (not concealment): how long after its
        fastest possible arrival it was heard."""
        return self._lags_us

    @property
    def playout(self) -> VoicePlayout:
        """The buffer (read its counters under no lock only when no thread pulls; tests and benchmarks)."""
        return self._playout

    def push(self, packet: VoicePacket) -> None:
        """One RTP packet as it arrived (event loop)."""
        with self._lock:
            self._packets += 1
            self._playout.push(packet)

    def chunk(self, play_ns: int, face: FaceDelay | None) -> np.ndarray:
        """The 10 ms heard from `play_ns`: decoded, recovered, concealed, stretched or silence (output thread)."""
        play_us = play_ns / 1000
        transit = face.min_transit_us if face is not None else None
        with self._lock:
            playout = self._playout
            if self._played == 0:
                playout.forget_arrivals()  # the output starts now: what arrived during set-up does not steer
            floor_us = self.sync.voice_floor_us(play_us) if transit is not None else 0.0
            # The buffer settles anywhere within its tolerance of the target: aim that much above the floor so
            # the voice never runs more than the window ahead of its face.
            playout.floor_ms = (floor_us - transit) / 1000 + playout.config.tolerance_ms \
                if floor_us > 0 and transit is not None else 0.0
            piece = playout.pull(play_ns)
            needed_ms = playout.needed_delay_ms()
            self._played += CHUNK_SAMPLES
            # Concealment while waiting for packets (a DTX pause, a late burst) stretches D without playing any
            # captured moment: it neither counts as a delay nor moves the face.
            heard = piece.decision not in (PlayoutDecision.BUFFERING, PlayoutDecision.CONCEAL) \
                and not math.isnan(piece.delay_ms)
            if heard:
                self._lags_us.append(piece.delay_ms * 1000)
        if transit is None:
            return piece.pcm
        if piece.decision is PlayoutDecision.BUFFERING:
            self.sync.voice_waiting(play_us, needed_ms * 1000 + transit)
        elif heard:
            self._delay_us = piece.delay_ms * 1000 + transit
            self.sync.voice_heard(play_us, self._delay_us)
        return piece.pcm

    def face_floor_us(self, now_us: float, face: FaceDelay) -> float:
        """Voice delay - 60 ms while the voice plays (LipSync.face_floor_us)."""
        return self.sync.face_floor_us(now_us)

    def stats(self) -> VoiceReceiveStats:
        """Counters of this voice."""
        with self._lock:
            s = self._playout.stats
            ms = 1000 / SAMPLE_RATE
            return VoiceReceiveStats(
                path="codecav", packets_received=self._packets,
                delay_ms=None if self._delay_us is None else round(self._delay_us / 1000, 2),
                target_delay_ms=round(self._playout.target_delay_ms(), 2), played_ms=self._played * ms,
                concealed_ms=s.concealed_samples * ms, loss_concealed_ms=s.loss_concealed_samples * ms,
                lost=s.lost, fec_recovered=s.fec_recovered, late=s.late,
                accelerated_ms=s.accelerated_samples * ms, slowed_ms=s.slowed_samples * ms)
