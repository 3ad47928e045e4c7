"""The baseline voice receive path: aiortc decodes the voice (behind its audio JitterBuffer) and codecav plays
the decoded frames aligned with the face (CallConfig.voice_path='aiortc'; benchmarks compare against it).

aiortc decodes Opus to AudioFrames whose pts is the RTP timestamp (48 kHz, random origin). Lip-sync works on
capture times: `DecodedVoicePlayout` estimates the sender capture time of every audio sample as
`pts / 48 kHz + anchor`, where the anchor is the minimum over packets (tapped before aiortc's jitter buffer,
`codecav.net.rtp_tap`) of (arrival - RTP time) minus the latent channel's minimum transit on the same transport
(both media share the DTLS/UDP path, so the fastest audio packet and the fastest latent frame took the same
time). Audio captured at C is then played at C + D, with D the face jitter buffer's playout delay, raised to what
aiortc's receive buffering needs (`needed_delay_us`, ~80 ms at best): the face waits for the voice.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from codecav.clock import MONOTONIC, Clock
from codecav.net.call_types import VoiceReceiveStats
from codecav.net.lip_sync import LipSync
from codecav.net.voice import FRAME_SAMPLES, SAMPLE_RATE
from codecav.net.voice_playout import CHUNK_SAMPLES, VoicePacket
from codecav.net.voice_receiver import FaceDelay

RECENT_LAG_FRAMES = 250
"""Decoded voice frames (5 s) whose lag behind their packets sets the voice path's needed delay."""


class DecodedVoicePlayout:
    """Received voice keyed by estimated capture time (pure apart from a lock): `push` on arrival, `pull` at play
    time with the face's playout delay. Times are µs on the receiver's call clock."""

    def __init__(self, seconds_kept: float = 2.0) -> None:
        """Keep the last `seconds_kept` of decoded voice."""
        self._lock = threading.Lock()
        self._kept = int(seconds_kept * SAMPLE_RATE)
        self._samples = np.zeros(0, np.float32)
        self._first_pts: int | None = None  # pts of _samples[0]
        self._anchor_min_us: float | None = None  # from decoded frames: the fallback
        self._packet_anchor_us: float | None = None  # from packet arrivals, RTP time relative to _rtp_first
        self._rtp_first: int | None = None
        self._mapper_origin: int | None = None
        self.frames = 0
        """Frames pushed."""
        self.lags_us: deque[float] = deque(maxlen=6000)
        """Per decoded frame: how much later it reached codecav than its packet's fastest path (aiortc's receive
        buffering plus any backlog); growth means the receiver is falling behind."""
        self.samples_played = 0
        """Samples returned by pull that were received audio (not silence)."""

    def _anchor(self, anchor: float) -> None:
        self._anchor_min_us = anchor if self._anchor_min_us is None else min(self._anchor_min_us, anchor)

    def note_packet(self, rtp_timestamp: int, arrival_us: int, decoded_origin: int | None = None) -> None:
        """An RTP packet of FRAME_SAMPLES arrived off the network (before any receive buffering): the precise
        anchor, which then replaces the decoded-frame one. aiortc gives decoded frames pts = RTP timestamp -
        `decoded_origin` (the timestamp of the first frame its jitter buffer released, not necessarily the first
        packet: at start-up it may drop packets); pass it once known."""
        with self._lock:
            if self._rtp_first is None:
                self._rtp_first = rtp_timestamp
            if decoded_origin is not None:
                self._mapper_origin = decoded_origin
            relative = (rtp_timestamp - self._rtp_first) % 2**32
            anchor = arrival_us - (relative + FRAME_SAMPLES) * 1e6 / SAMPLE_RATE
            self._packet_anchor_us = anchor if self._packet_anchor_us is None else min(self._packet_anchor_us, anchor)

    def _decoded_anchor(self) -> float | None:
        """capture time of decoded pts 0 plus the path's fastest transit (receiver clock), best source first."""
        if self._packet_anchor_us is None or self._rtp_first is None:
            return self._anchor_min_us
        origin = self._rtp_first if self._mapper_origin is None else self._mapper_origin
        anchor = self._packet_anchor_us + ((origin - self._rtp_first) % 2**32) * 1e6 / SAMPLE_RATE
        # Decoded frames arrive after their packets (receive buffering, tens of ms), never long before or after.
        # A larger gap means the packet timestamps were mapped to the wrong decoded origin (aiortc dropped
        # packets at start-up before the origin was known): then the decoded-frame anchor, late by the
        # buffering but consistent with the decoded pts, is the one to trust.
        if self._anchor_min_us is not None and not -0.05e6 <= self._anchor_min_us - anchor <= 0.5e6:
            return self._anchor_min_us
        return anchor

    def push(self, pts: int, arrival_us: int, pcm: np.ndarray) -> None:
        """Add a decoded frame: `pts` in 48 kHz samples (RTP timestamp), mono float32 samples."""
        with self._lock:
            self.frames += 1
            # later than the packet by the receive buffering: a fallback until packets are noted
            self._anchor(arrival_us - (pts + pcm.size) * 1e6 / SAMPLE_RATE)
            anchor = self._decoded_anchor()
            if self._packet_anchor_us is not None and anchor is not None:
                self.lags_us.append(arrival_us - (pts + pcm.size) * 1e6 / SAMPLE_RATE - anchor)
            if self._first_pts is None:
                self._first_pts = pts
            offset = pts - self._first_pts
            end = offset + pcm.size
            if offset < 0:
                return  # older than what is kept
            if end > self._samples.size:
                self._samples = np.pad(self._samples, (0, end - self._samples.size))
            self._samples[offset:end] = pcm
            if self._samples.size > self._kept:
                drop = self._samples.size - self._kept
                self._samples = self._samples[drop:]
                self._first_pts += drop

    def needed_delay_us(self, quantile: float = 0.95, margin_us: float = 10_000.0) -> float | None:
        """The playout delay (after capture, beyond the path's fastest transit) at which received voice has been
        decoded in time: a frame's last sample is captured 20 ms after its first, then aiortc's receive buffering
        (`lags_us`, ~80 ms: it prefetches 4 packets), plus `margin_us` for the output block. None before data."""
        with self._lock:
            if len(self.lags_us) < 10:
                return None
            # The recent frames only (RECENT_LAG_FRAMES, 5 s): the lags of a start-up stall (models loading
            # beside the network thread) would otherwise hold the face back for the whole history kept.
            recent = list(itertools.islice(reversed(self.lags_us), RECENT_LAG_FRAMES))
            lag = float(np.quantile(np.asarray(recent, float), quantile))
        return FRAME_SAMPLES * 1e6 / SAMPLE_RATE + lag + margin_us

    def capture_us(self, pts: int, latent_min_transit_us: float) -> float | None:
        """Estimated sender capture time (receiver clock) of the sample at `pts`."""
        with self._lock:
            anchor = self._decoded_anchor()
            if anchor is None:
                return None
            return pts * 1e6 / SAMPLE_RATE + anchor - latent_min_transit_us

    def pull(self, play_us: float, n: int, playout_delay_us: float, latent_min_transit_us: float) -> np.ndarray:
        """`n` samples to start playing at `play_us`: those captured at play_us - playout_delay_us (silence where
        none was received)."""
        out = np.zeros(n, np.float32)
        with self._lock:
            anchor = self._decoded_anchor()
            if anchor is None or self._first_pts is None:
                return out
            capture = play_us - playout_delay_us
            pts = (capture - anchor + latent_min_transit_us) * SAMPLE_RATE / 1e6
            start = int(round(pts)) - self._first_pts
            lo, hi = max(start, 0), min(start + n, self._samples.size)
            if hi > lo:
                out[lo - start : hi - start] = self._samples[lo:hi]
                self.samples_played += hi - lo
        return out


async def consume_voice(track: MediaStreamTrack, playout: DecodedVoicePlayout, clock: Clock = MONOTONIC) -> None:
    """Receive a remote voice track into `playout` until it ends (mono mix of aiortc's decoded frames), each
    stamped with its arrival on `clock` (the call's clock)."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if not isinstance(frame, AudioFrame) or frame.pts is None:
            continue
        arrival = clock.now_us()
        data = frame.to_ndarray().astype(np.float32) / 32768.0
        channels = len(frame.layout.channels)
        mono = data.reshape(-1, channels).mean(axis=1) if frame.format.is_packed else data.mean(axis=0)
        # aiortc hands us the frame's time: pts from the RTP timestamp (48 kHz, random origin); kept as given.
        pts = int(frame.pts * SAMPLE_RATE * frame.time_base) if frame.time_base is not None else int(frame.pts)
        playout.push(pts, arrival, mono.astype(np.float32))


class DecodedVoice:
    """A RemoteVoice over aiortc's decoded frames: the face waits for them (the baseline path)."""

    def __init__(self) -> None:
        """Nothing received yet."""
        self.playout = DecodedVoicePlayout()
        """The decoded voice by capture time."""
        self.sync = LipSync()
        """Measures the offset to the face (no floors: the voice plays at the face's delay)."""
        self._delay_us: float | None = None

    @property
    def frames(self) -> int:
        """Decoded frames received."""
        return self.playout.frames

    @property
    def lags_us(self) -> deque[float]:
        """DecodedVoicePlayout.lags_us."""
        return self.playout.lags_us

    def note_packet(self, packet: VoicePacket, decoded_origin: int | None) -> None:
        """An RTP packet as it arrived, before aiortc's jitter buffer (the precise anchor)."""
        self.playout.note_packet(packet.rtp_timestamp, packet.arrival_ns // 1000, decoded_origin)

    def chunk(self, play_ns: int, face: FaceDelay | None) -> np.ndarray | None:
        """10 ms captured one face playout delay (raised to what aiortc's buffering needs) before `play_ns`."""
        if face is None:
            return None
        delay = face.delay_us
        needed = self.playout.needed_delay_us()
        if needed is not None:
            delay = max(delay, needed + face.min_transit_us)
        play_us = play_ns / 1000
        self._delay_us = delay
        self.sync.voice_heard(play_us, delay)
        return self.playout.pull(play_us, CHUNK_SAMPLES, delay, face.min_transit_us)

    def face_floor_us(self, now_us: float, face: FaceDelay) -> float:
        """What aiortc's receive buffering needs beyond the fastest transit (0 before 10 frames)."""
        needed = self.playout.needed_delay_us()
        return 0.0 if needed is None else needed + face.min_transit_us

    def stats(self) -> VoiceReceiveStats:
        """Counters (aiortc does not report loss or concealment of the voice it decodes)."""
        played_ms = self.playout.samples_played * 1000 / SAMPLE_RATE
        return VoiceReceiveStats(
            path="aiortc", packets_received=self.playout.frames,
            delay_ms=None if self._delay_us is None else round(self._delay_us / 1000, 2), target_delay_ms=None,
            played_ms=played_ms, concealed_ms=0.0, loss_concealed_ms=0.0, lost=0, fec_recovered=0, late=0,
            accelerated_ms=0.0, slowed_ms=0.0)
