"""Adaptive voice playout (pure: no I/O, no threads, time given by the caller): 10 ms of PCM per pull.

It replaces aiortc's audio `JitterBuffer(capacity=16, prefetch=4)` on the receive side of a call (issue 12), in
the spirit of libwebrtc's NetEQ: `codecav.net.voice_receiver.VoiceReceiver` feeds it the RTP packets taken before
aiortc's buffer (`codecav.net.rtp_tap`) and pulls it from the voice output thread under a lock.

Delay. A packet's transit is its arrival time minus its RTP time; its relative delay is that transit minus the
smallest transit in a sliding window (a few seconds). The playout delay D of the sample about to be played is
`now - (its RTP time + smallest transit)`: how long after its earliest possible arrival it is heard. A packet
is in time when its relative delay is below D, so the target delay is a high quantile (95th) of the recent
relative delays plus a margin, never below one packet (20 ms); it starts cautious (80 ms) until enough
packets have been seen. A caller may raise the target with `floor_ms` (lip-sync: the voice waits for its
face). D only changes when the buffer itself acts:
- a missing packet whose successors have arrived is lost: its frame is recovered from the next packet's
  in-band FEC when that packet is here, otherwise concealed by the decoder's PLC; its slot is then played, so
  the packet, should it come after all, is dropped as late;
- when nothing after the playout point has arrived (a late burst), the decoder conceals 10 ms at a time
  without moving the playout point, so D grows by what was concealed and the late packet still plays;
- above the target (plus a tolerance) the buffer accelerates, below it slows down: it removes or repeats a
  few ms either inside a quiet stretch or, in voiced sound, exactly one pitch period where the waveform
  repeats (correlation >= 0.9), crossfaded: loud noise-like sound is never cut, so no clicks.
Memory is bounded: a fixed number of packets, payload size and statistics window, whatever a peer sends.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from codecav.errors import CodecavError
from codecav.net.voice_stretch import best_period, loudest_block_rms, remove_span, repeat_span

SAMPLE_RATE = 48_000
"""PCM and RTP timestamp rate of the voice (Opus)."""
CHUNK_SAMPLES = 480
"""Samples per pull: 10 ms."""
_GRANULE = 120
"""2.5 ms: concealment lengths are multiples of this (libopus' PLC granularity)."""
_SAMPLES_PER_MS = SAMPLE_RATE / 1000
_NS_PER_MS = 1_000_000


class VoiceDecoder(Protocol):
    """A voice decoder with per-stream state (OpusVoiceDecoder, or a fake in tests); float32 48 kHz mono.

    Each method raises a CodecavError (e.g. OpusPacketError) for a payload it cannot decode.
    """

    def decode(self, payload: bytes) -> np.ndarray:
        """The PCM of one packet."""
        ...

    def conceal(self, samples: int) -> np.ndarray:
        """`samples` (a multiple of 2.5 ms) of concealment for missing audio."""
        ...

    def decode_fec(self, next_payload: bytes, samples: int) -> np.ndarray:
        """The lost frame just before `next_payload`, from its in-band FEC (`samples` long)."""
        ...


@dataclass(frozen=True)
class VoicePacket:
    """One received RTP voice packet."""

    sequence: int
    """RTP sequence number (16 bits, wraps)."""
    rtp_timestamp: int
    """RTP timestamp of its first sample (32 bits at 48 kHz, wraps)."""
    payload: bytes
    """The Opus payload."""
    arrival_ns: int
    """When it arrived, on the caller's monotonic clock (the clock of `pull`'s `now_ns`)."""


class PlayoutDecision(Enum):
    """What the buffer did to produce a chunk (the most notable thing: declaration order is precedence)."""

    BUFFERING = "buffering"
    """Silence: no packet yet, or waiting until the start delay is reached, or the stream has stopped."""
    FEC = "fec"
    """A lost frame was recovered from the next packet's in-band FEC."""
    CONCEAL = "conceal"
    """Missing audio (lost or not yet arrived) was concealed by the decoder."""
    ACCELERATE = "accelerate"
    """A few ms were removed (quiet stretch or one pitch period) to move the delay down to the target."""
    SLOW_DOWN = "slow_down"
    """A few ms were repeated to move the delay up to the target."""
    NORMAL = "normal"
    """Decoded packets played as they are."""


@dataclass(frozen=True)
class PlayoutChunk:
    """10 ms of playout and how it was made."""

    pcm: np.ndarray
    """float32 [480] mono samples at 48 kHz."""
    decision: PlayoutDecision
    """What the buffer did for this chunk."""
    delay_ms: float
    """Playout delay D of the chunk's first sample: now minus (its RTP time + the smallest recent transit);
    NaN while buffering with nothing to play."""
    target_delay_ms: float
    """The delay the buffer moves towards."""
    rtp_timestamp: int | None
    """RTP timestamp (32 bits) of the chunk's first sample, for lip-sync; None while buffering."""


@dataclass(frozen=True)
class VoicePlayoutConfig:
    """Tuning of a VoicePlayout (defaults after NetEQ's: 95th percentile, 20 ms minimum, 80 ms start)."""

    min_delay_ms: float = 20.0
    """The target delay never goes below this (one 20 ms packet) nor below the packets' duration."""
    max_delay_ms: float = 400.0
    """The target never goes above this; a delay beyond it (e.g. pulls stopped for a while) skips ahead."""
    initial_delay_ms: float = 80.0
    """Target until `warmup_packets` have been seen (cautious start); the first sample waits this long."""
    warmup_packets: int = 25
    """Packets (0.5 s) whose arrivals must be seen before the target may drop below `initial_delay_ms`."""
    jitter_quantile: float = 0.95
    """The target covers this quantile of the recent relative arrival delays."""
    jitter_window_ms: float = 3000.0
    """Arrivals within this span of the newest one steer the target."""
    jitter_window_packets: int = 600
    """At most this many arrivals are kept for the target (bounds memory under a flood)."""
    margin_ms: float = 10.0
    """Added to the quantile: a packet can be needed up to one 10 ms chunk before its own first sample."""
    tolerance_ms: float = 5.0
    """No acceleration or slow-down while the delay is within this of the target."""
    quiet_level_dbfs: float = -40.0
    """A stretch whose every 1.25 ms block has an RMS below this level (dB full scale) may be cut or repeated."""
    quiet_splice_ms: float = 5.0
    """Most removed or repeated in one quiet stretch (one per 10 ms chunk)."""
    min_pitch_ms: float = 2.5
    """Shortest pitch period cut or repeated in voiced sound (400 Hz)."""
    max_pitch_ms: float = 15.0
    """Longest pitch period cut or repeated in voiced sound (67 Hz)."""
    min_periodicity: float = 0.9
    """Voiced sound is cut or repeated only where one period correlates at least this well with the next."""
    crossfade_ms: float = 2.5
    """Crossfade across each cut or repeat."""
    max_voiced_stretch: float = 0.25
    """In voiced sound, at most this fraction of the audio played is cut or repeated (quiet stretches: no limit)."""
    max_expand_ms: float = 200.0
    """After this much concealment with nothing to play, the stream is taken as stopped (silence, buffering)."""
    fec: bool = True
    """Recover a lost frame from the next packet's in-band FEC when that packet is here."""
    capacity_packets: int = 128
    """Most packets held; beyond it the oldest is dropped (a flood cannot grow the buffer)."""
    max_payload_bytes: int = 1500
    """Longer payloads are dropped as invalid."""
    max_jump_packets: int = 10
    """A stream whose timestamps stay out of range for this many packets in a row has restarted: follow it."""

    def __post_init__(self) -> None:
        """Reject inconsistent tuning early, naming the field."""
        for name in ("min_delay_ms", "jitter_window_ms", "margin_ms", "tolerance_ms", "quiet_splice_ms",
                     "min_pitch_ms", "max_pitch_ms", "crossfade_ms", "max_expand_ms"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a positive number of ms; got {getattr(self, name)}")
        if not self.min_delay_ms <= self.initial_delay_ms <= self.max_delay_ms:
            raise ValueError(f"delays must satisfy min_delay_ms <= initial_delay_ms <= max_delay_ms; got "
                             f"{self.min_delay_ms}, {self.initial_delay_ms}, {self.max_delay_ms}")
        if not 0.0 < self.jitter_quantile < 1.0:
            raise ValueError(f"jitter_quantile must be in (0, 1); got {self.jitter_quantile}")
        if self.min_pitch_ms > self.max_pitch_ms:
            raise ValueError(f"min_pitch_ms {self.min_pitch_ms} is above max_pitch_ms {self.max_pitch_ms}")
        if not 0.0 <= self.max_voiced_stretch <= 0.5:
            raise ValueError(f"max_voiced_stretch must be in [0, 0.5]; got {self.max_voiced_stretch}")
        if not 0.0 < self.min_periodicity <= 1.0:
            raise ValueError(f"min_periodicity must be in (0, 1]; got {self.min_periodicity}")
        if not self.quiet_level_dbfs < 0:
            raise ValueError(f"quiet_level_dbfs must be below 0 dBFS; got {self.quiet_level_dbfs}")
        for name in ("warmup_packets", "jitter_window_packets", "capacity_packets", "max_payload_bytes",
                     "max_jump_packets"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")


@dataclass
class VoicePlayoutStats:
    """Counters of a VoicePlayout (mutable, updated in place)."""

    received: int = 0
    """Packets accepted into the buffer."""
    late: int = 0
    """Packets that arrived after their slot had been concealed (dropped)."""
    old: int = 0
    """Other packets behind the playout point: duplicates of played ones, or late after a skip (dropped)."""
    duplicates: int = 0
    """Packets already held (dropped)."""
    invalid: int = 0
    """Empty or oversized payloads (dropped)."""
    out_of_range: int = 0
    """Packets whose RTP time is far from their arrival time (dropped), until the stream is seen to restart."""
    overflow: int = 0
    """Packets dropped because the buffer was full."""
    decode_errors: int = 0
    """Payloads the decoder refused (concealed)."""
    lost: int = 0
    """Frames missing when their turn came (recovered by FEC or concealed)."""
    fec_recovered: int = 0
    """Lost frames recovered from in-band FEC."""
    concealed_samples: int = 0
    """Samples made by concealment (loss, late arrivals, DTX gaps)."""
    loss_concealed_samples: int = 0
    """Samples concealed in the slots of lost packets (not DTX pauses, not FEC-recovered ones)."""
    accelerated_samples: int = 0
    """Samples removed to lower the delay."""
    slowed_samples: int = 0
    """Samples repeated to raise the delay."""
    skips: int = 0
    """Times playout skipped ahead: the delay exceeded max_delay_ms, or older packets waited at a (re)start."""
    restarts: int = 0
    """Times the stream stopped (long concealment) or jumped and playout started again."""
    decisions: dict[str, int] = field(default_factory=dict)
    """Chunks per PlayoutDecision value."""


@dataclass
class _Stored:
    sequence: int
    """Unwrapped RTP sequence number."""
    payload: bytes
    """The payload as received."""


def _unwrap(value: int, reference: int | None, bits: int) -> int:
    """`value` (mod 2**bits) as the integer nearest to `reference` (an unwrapped value)."""
    if reference is None:
        return value
    modulus = 1 << bits
    diff = (value - reference) % modulus
    if diff >= modulus // 2:
        diff -= modulus
    return reference + diff


class VoicePlayout:
    """One remote voice stream: `push` each packet on arrival, `pull(now_ns)` every 10 ms of playback.

    Not thread-safe: call both from one thread (e.g. the audio callback's, fed through a queue) or under a lock.
    """

    def __init__(self, decoder: VoiceDecoder, config: VoicePlayoutConfig | None = None) -> None:
        """A buffer that decodes with `decoder` (its state belongs to this stream)."""
        self.config = config or VoicePlayoutConfig()
        """Tuning."""
        self.stats = VoicePlayoutStats()
        """Counters."""
        self._decoder = decoder
        cfg = self.config
        self._quiet_rms = 10.0 ** (cfg.quiet_level_dbfs / 20.0)
        self._crossfade = max(1, round(cfg.crossfade_ms * _SAMPLES_PER_MS))
        self._horizon_ms = 2.0 * cfg.max_delay_ms
        self._packets: dict[int, _Stored] = {}
        """Packets not yet decoded, by unwrapped RTP timestamp."""
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=cfg.jitter_window_packets)
        """(arrival ns, transit ms) of recent packets."""
        self._arrivals_seen = 0
        self._late_slots: deque[int] = deque(maxlen=64)
        """RTP times of slots played without their packet."""
        self._last_sequence: int | None = None
        self._last_timestamp: int | None = None
        self._jump_run = 0
        self._frame_samples = 960
        """Samples per packet, as last decoded."""
        self._sync = np.zeros(0, np.float32)
        """Decoded audio not yet played; it ends at `_decode_ts`."""
        self._decode_ts: int | None = None
        """Unwrapped RTP time of the next audio to decode; None until playout first starts."""
        self._decoded_sequence: int | None = None
        self._playing = False
        self._expanded = 0
        """Samples concealed since the last packet while nothing after the decode point had arrived."""
        self._voiced_budget = 0.0
        """Samples that voiced-sound stretching may still remove or repeat (max_voiced_stretch)."""
        self.floor_ms = 0.0
        """A lower bound on the target set from outside (the face's delay, for lip-sync); 0 for none."""

    # ---- arrivals -----------------------------------------------------------------------------------------

    def push(self, packet: VoicePacket) -> None:
        """Take one packet as it arrives (any order, duplicates and garbage included)."""
        cfg = self.config
        if not packet.payload or len(packet.payload) > cfg.max_payload_bytes:
            self.stats.invalid += 1
            return
        sequence = _unwrap(packet.sequence & 0xFFFF, self._last_sequence, 16)
        timestamp = _unwrap(packet.rtp_timestamp & 0xFFFFFFFF, self._last_timestamp, 32)
        transit_ms = packet.arrival_ns / _NS_PER_MS - timestamp / _SAMPLES_PER_MS
        if self._arrivals and abs(transit_ms - self._min_transit_ms()) > self._horizon_ms:
            # Far earlier or later than its RTP time says: garbage, or the sender restarted its timestamps.
            self._jump_run += 1
            if self._jump_run < cfg.max_jump_packets:
                self.stats.out_of_range += 1
                return
            self._reset_stream()
            sequence, timestamp = packet.sequence & 0xFFFF, packet.rtp_timestamp & 0xFFFFFFFF
            transit_ms = packet.arrival_ns / _NS_PER_MS - timestamp / _SAMPLES_PER_MS
        self._jump_run = 0
        self._last_sequence = sequence if self._last_sequence is None else max(sequence, self._last_sequence)
        self._last_timestamp = timestamp if self._last_timestamp is None else max(timestamp, self._last_timestamp)
        if self._decode_ts is not None and timestamp < self._decode_ts:
            self._note_arrival(packet.arrival_ns, transit_ms)  # a late packet is evidence of jitter too
            if timestamp in self._late_slots:
                self.stats.late += 1
            else:
                self.stats.old += 1
            return
        if timestamp in self._packets:
            self.stats.duplicates += 1
            return
        self._note_arrival(packet.arrival_ns, transit_ms)
        self._packets[timestamp] = _Stored(sequence, bytes(packet.payload))
        self.stats.received += 1
        if len(self._packets) > cfg.capacity_packets:
            del self._packets[min(self._packets)]
            self.stats.overflow += 1

    def _note_arrival(self, arrival_ns: int, transit_ms: float) -> None:
        self._arrivals.append((arrival_ns, transit_ms))
        self._arrivals_seen += 1
        oldest_ns = arrival_ns - self.config.jitter_window_ms * _NS_PER_MS
        while self._arrivals and self._arrivals[0][0] < oldest_ns:
            self._arrivals.popleft()

    def forget_arrivals(self) -> None:
        """Start the jitter estimate afresh (cautious start), e.g. when the listener starts; held packets stay."""
        self._arrivals.clear()
        self._arrivals_seen = 0

    def _reset_stream(self) -> None:
        """Forget everything about the stream but the counters (its timestamps jumped)."""
        self.stats.restarts += 1
        self._packets.clear()
        self._arrivals.clear()
        self._arrivals_seen = 0
        self._late_slots.clear()
        self._last_sequence = self._last_timestamp = None
        self._decode_ts = self._decoded_sequence = None
        self._sync = np.zeros(0, np.float32)
        self._playing = False
        self._expanded = 0

    # ---- delay --------------------------------------------------------------------------------------------

    @property
    def held_packets(self) -> int:
        """Packets received and not yet decoded (at most `capacity_packets`)."""
        return len(self._packets)

    def _min_transit_ms(self) -> float:
        return min(transit for _, transit in self._arrivals)

    def needed_delay_ms(self) -> float:
        """The delay the arrivals ask for: the jitter quantile plus margin, within the configured bounds."""
        cfg = self.config
        floor = max(cfg.min_delay_ms, self._frame_samples / _SAMPLES_PER_MS)
        if not self._arrivals:
            return min(max(cfg.initial_delay_ms, floor), cfg.max_delay_ms)
        transits = np.fromiter((transit for _, transit in self._arrivals), np.float64, len(self._arrivals))
        target = float(np.quantile(transits - transits.min(), cfg.jitter_quantile)) + cfg.margin_ms
        if self._arrivals_seen < cfg.warmup_packets:
            target = max(target, cfg.initial_delay_ms)
        return min(max(target, floor), cfg.max_delay_ms)

    def target_delay_ms(self) -> float:
        """The delay the buffer moves towards: what the arrivals need, raised to `floor_ms`, at most max_delay_ms."""
        return min(max(self.needed_delay_ms(), self.floor_ms), self.config.max_delay_ms)

    def _delay_ms(self, now_ns: int, play_ts: int) -> float:
        return now_ns / _NS_PER_MS - (play_ts / _SAMPLES_PER_MS + self._min_transit_ms())

    def _play_ts(self) -> int:
        assert self._decode_ts is not None
        return self._decode_ts - len(self._sync)

    # ---- playout ------------------------------------------------------------------------------------------

    def pull(self, now_ns: int) -> PlayoutChunk:
        """Exactly 10 ms of PCM for the playback instant `now_ns` (call every 10 ms), and what was done."""
        chunk = self._pull(now_ns)
        key = chunk.decision.value
        self.stats.decisions[key] = self.stats.decisions.get(key, 0) + 1
        return chunk

    def _pull(self, now_ns: int) -> PlayoutChunk:
        target = self.target_delay_ms()
        if not self._playing:
            if not self._packets or not self._arrivals:
                return self._silence(target, math.nan)
            first = min(self._packets)
            delay = self._delay_ms(now_ns, first)
            if delay < target:
                return self._silence(target, delay)
            # Start with the newest packet that has waited its target: older ones queued while nothing pulled
            # (the output started late, or a burst after an outage) would only add delay.
            start = max(t for t in self._packets if self._delay_ms(now_ns, t) >= target)
            if start != first:
                self.stats.skips += 1
                for timestamp in [t for t in self._packets if t < start]:
                    del self._packets[timestamp]
            self._playing, self._decode_ts, self._expanded = True, start, 0
        if self._delay_ms(now_ns, self._play_ts()) > self.config.max_delay_ms and not self._skip_ahead(now_ns, target):
            return self._silence(target, math.nan)
        decision = PlayoutDecision.NORMAL
        while len(self._sync) < CHUNK_SAMPLES:
            step = self._next_audio(CHUNK_SAMPLES - len(self._sync))
            if step is None:  # the stream stopped: wait for it to come back
                self._stop()
                return self._silence(target, math.nan)
            if _PRECEDENCE[step] < _PRECEDENCE[decision]:
                decision = step
        self._voiced_budget = min(self._voiced_budget + CHUNK_SAMPLES * self.config.max_voiced_stretch,
                                  self.config.max_pitch_ms * _SAMPLES_PER_MS)
        if decision is PlayoutDecision.NORMAL:
            decision = self._stretch(self._delay_ms(now_ns, self._play_ts()) - target)
        play_ts = self._play_ts()
        delay = self._delay_ms(now_ns, play_ts)
        pcm, self._sync = self._sync[:CHUNK_SAMPLES].copy(), self._sync[CHUNK_SAMPLES:]
        return PlayoutChunk(pcm, decision, delay, target, play_ts & 0xFFFFFFFF)

    def _silence(self, target: float, delay: float) -> PlayoutChunk:
        return PlayoutChunk(np.zeros(CHUNK_SAMPLES, np.float32), PlayoutDecision.BUFFERING, delay, target, None)

    def _stop(self) -> None:
        """Stop playing and wait for packets to reach the target delay again (keeps what was played)."""
        self.stats.restarts += 1
        self._playing = False
        self._sync = np.zeros(0, np.float32)
        self._expanded = 0

    def _skip_ahead(self, now_ns: int, target: float) -> bool:
        """Drop audio so the delay is back at the target (pulls stopped for a while); False if nothing is left."""
        assert self._decode_ts is not None
        self.stats.skips += 1
        wanted = math.ceil((now_ns / _NS_PER_MS - self._min_transit_ms() - target) * _SAMPLES_PER_MS)
        self._sync = np.zeros(0, np.float32)
        for timestamp in [t for t in self._packets if t < wanted]:
            del self._packets[timestamp]
        self._decode_ts = min(self._packets) if self._packets else max(self._decode_ts, wanted)
        self._expanded = 0
        if not self._packets:
            self._playing = False
        return self._playing

    def _append(self, pcm: np.ndarray) -> None:
        self._sync = np.concatenate([self._sync, pcm])

    def _decode_stored(self, timestamp: int) -> bool:
        """Decode the packet at the decode point into the sync buffer; False (counted) if it was refused."""
        stored = self._packets.pop(timestamp)
        self._decoded_sequence = stored.sequence
        try:
            pcm = np.asarray(self._decoder.decode(stored.payload), np.float32).reshape(-1)
        except CodecavError:
            pcm = np.zeros(0, np.float32)
        if len(pcm) == 0:
            self.stats.decode_errors += 1
            return False
        self._frame_samples = len(pcm)
        self._append(pcm)
        self._decode_ts = timestamp + len(pcm)
        self._expanded = 0
        return True

    def _conceal(self, samples: int) -> None:
        """Append exactly `samples` of the decoder's concealment (asked for in whole 2.5 ms steps)."""
        asked = max(_GRANULE, -(-samples // _GRANULE) * _GRANULE)
        try:
            pcm = np.asarray(self._decoder.conceal(asked), np.float32).reshape(-1)
        except CodecavError:
            pcm = np.zeros(0, np.float32)
        if len(pcm) < samples:
            pcm = np.concatenate([pcm, np.zeros(samples - len(pcm), np.float32)])
        self._append(pcm[:samples])
        self.stats.concealed_samples += samples

    def _conceal_refused(self) -> PlayoutDecision:
        """A payload the decoder refused is played as a concealed frame in its slot."""
        assert self._decode_ts is not None
        slot = self._decode_ts
        self._conceal(self._frame_samples)
        self._mark_played(slot, self._frame_samples, lost=False)
        return PlayoutDecision.CONCEAL

    def _next_audio(self, wanted: int) -> PlayoutDecision | None:
        """Add audio at the decode point: decode, recover or conceal; None when the stream has stopped."""
        assert self._decode_ts is not None
        if self._decode_ts in self._packets:
            return PlayoutDecision.NORMAL if self._decode_stored(self._decode_ts) else self._conceal_refused()
        later = [t for t in self._packets if t > self._decode_ts]
        if not later:
            # Nothing after the decode point yet: conceal without moving it, so the late packet still plays.
            if self._expanded >= self.config.max_expand_ms * _SAMPLES_PER_MS:
                return None
            samples = -(-wanted // _GRANULE) * _GRANULE
            self._conceal(samples)
            self._expanded += samples
            return PlayoutDecision.CONCEAL
        next_ts = min(later)
        following = self._packets[next_ts]
        # Consecutive sequence numbers across a timestamp gap: the sender paused (DTX), nothing was lost.
        paused = self._decoded_sequence is not None and following.sequence == self._decoded_sequence + 1
        frame = self._frame_samples
        if self._expanded:
            # Concealment already played while waiting stands in for the whole lost frames of this gap.
            covered = min(next_ts - self._decode_ts, self._expanded // frame * frame)
            self._expanded = 0
            if covered:
                self._mark_played(self._decode_ts, covered, lost=not paused)
                if self._decode_ts == next_ts:
                    return PlayoutDecision.NORMAL if self._decode_stored(next_ts) else self._conceal_refused()
        slot = self._decode_ts
        unit = min(frame, next_ts - slot)
        if self.config.fec and not paused and slot + unit == next_ts and unit % _GRANULE == 0:
            try:
                pcm = np.asarray(self._decoder.decode_fec(following.payload, unit), np.float32).reshape(-1)
            except CodecavError:
                pcm = np.zeros(0, np.float32)
            if len(pcm) == unit:
                self._append(pcm)
                self.stats.fec_recovered += 1
                self._mark_played(slot, unit, lost=True, concealed=False)
                return PlayoutDecision.FEC
        self._conceal(unit)
        self._mark_played(slot, unit, lost=not paused)
        return PlayoutDecision.CONCEAL

    def _mark_played(self, slot: int, samples: int, lost: bool, concealed: bool = True) -> None:
        """The slot [slot, slot + samples) was played without its packet: a packet for it is now late."""
        assert self._decode_ts is not None
        self._late_slots.extend(range(slot, slot + samples, self._frame_samples))
        if lost:
            self.stats.lost += max(1, round(samples / self._frame_samples))
            if concealed:
                self.stats.loss_concealed_samples += samples
        self._decode_ts = max(self._decode_ts, slot + samples)

    # ---- time-stretching ----------------------------------------------------------------------------------

    def _decode_ahead(self, samples: int) -> None:
        """Decode packets that are already here until the sync buffer holds `samples` (no concealment)."""
        while len(self._sync) < samples and self._decode_ts in self._packets:
            assert self._decode_ts is not None
            if not self._decode_stored(self._decode_ts):
                self._conceal_refused()

    def _stretch(self, excess_ms: float) -> PlayoutDecision:
        """Remove (excess > 0) or repeat (excess < 0) a few ms where it cannot be heard, if such a place exists."""
        cfg = self.config
        if abs(excess_ms) <= cfg.tolerance_ms:
            return PlayoutDecision.NORMAL
        self._decode_ahead(CHUNK_SAMPLES + round(cfg.max_pitch_ms * _SAMPLES_PER_MS) + 2 * self._crossfade)
        splice = self._find_splice(abs(excess_ms), removing=excess_ms > 0)
        if splice is None:
            return PlayoutDecision.NORMAL
        start, length = splice
        if excess_ms > 0:
            self._sync = remove_span(self._sync, start, length, self._crossfade)
            self.stats.accelerated_samples += length
            return PlayoutDecision.ACCELERATE
        self._sync = repeat_span(self._sync, start, length, self._crossfade)
        self.stats.slowed_samples += length
        return PlayoutDecision.SLOW_DOWN

    def _find_splice(self, excess_ms: float, removing: bool) -> tuple[int, int] | None:
        """(start, length) to cut or repeat within this chunk: a quiet stretch, else one pitch period."""
        cfg = self.config
        x, fade = self._sync, self._crossfade
        room = len(x) - CHUNK_SAMPLES if removing else len(x)  # a cut must leave this chunk whole
        quiet_len = min(round(min(excess_ms, cfg.quiet_splice_ms) * _SAMPLES_PER_MS), room)
        block = _GRANULE // 2
        for start in range(0, CHUNK_SAMPLES if quiet_len >= _SAMPLES_PER_MS else 0, block):
            end = start + quiet_len + fade
            if end > len(x):
                break
            if loudest_block_rms(x[start:end], block) < self._quiet_rms:
                return start, quiet_len
        # Voiced sound: one period, as long as the delay then stays within the tolerance of the target.
        min_lag = round(cfg.min_pitch_ms * _SAMPLES_PER_MS)
        window = 2 * fade  # one period must match the next over two crossfades
        max_lag = min(round(min(cfg.max_pitch_ms, excess_ms + cfg.tolerance_ms) * _SAMPLES_PER_MS),
                      int(self._voiced_budget), len(x) - window, room)
        if max_lag < min_lag:
            return None
        lag = best_period(x[: max_lag + window].astype(np.float64), window, min_lag, max_lag, cfg.min_periodicity)
        if lag is None:
            return None
        self._voiced_budget -= lag
        return 0, lag


_PRECEDENCE = {decision: rank for rank, decision in enumerate(PlayoutDecision)}
"""A chunk reports the first of these (declaration order) that happened while making it."""
