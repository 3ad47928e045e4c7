"""Voice in the demo and the profiler: a clip-aligned PCM feed for codecav.net.voice.VoiceTrack, a virtual
output device that pulls the call's voice every 20 ms, and the mouth-to-ear measurement.

Mouth-to-ear is measured, not assumed: each 100 ms of what the output pulled is found in what the sender
sent by normalised cross-correlation (Opus delay, jitter-buffer delay and a late start all included); its
hand-off time minus the capture time of the matched sent sample, through the clock offset between the peers,
is one measurement.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codecav.clock import MONOTONIC, Clock
from codecav.net.voice import FRAME_SAMPLES, SAMPLE_RATE, PcmFeed

VOICE_RATE = SAMPLE_RATE
"""Sample rate of call voice (Opus' native rate)."""


@dataclass
class SentVoice:
    """What a sender's voice track sent: the samples, and the capture time of sample 0."""

    samples: list[np.ndarray] = field(default_factory=list)
    """float32 blocks in the order the track took them (those not spilled)."""
    start_ns: int | None = None
    """Monotonic capture time of the first sample (the track's start); sample i is captured i / 48 kHz later."""
    spill: Path | None = None
    """Where new blocks go instead of `samples` (raw float32, appended): a long call records ~11 MB a minute."""

    def add(self, block: np.ndarray) -> None:
        """Keep one block (in `spill` when set)."""
        _keep(block, self.samples, self.spill)

    def stream(self) -> np.ndarray:
        """All sent samples."""
        return _joined(self.samples, self.spill)


def _keep(block: np.ndarray, blocks: list[np.ndarray], spill: Path | None) -> None:
    if spill is None:
        blocks.append(block)
        return
    with spill.open("ab") as out:
        out.write(np.ascontiguousarray(block, np.float32).tobytes())


def _joined(blocks: list[np.ndarray], spill: Path | None) -> np.ndarray:
    parts = list(blocks)
    if spill is not None and spill.exists():
        parts.insert(0, np.fromfile(spill, np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def clip_feed(samples: np.ndarray, origin_ns: int, log: SentVoice, *, clock: Clock = MONOTONIC) -> PcmFeed:
    """A looping PcmFeed of a clip whose time 0 is `origin_ns` on `clock`: a track that starts late joins the
    clip where its clock is, so voice stays aligned with a face driven from the same origin. Logs what it gives."""
    position: int | None = None

    def feed(n: int) -> np.ndarray:
        nonlocal position
        if position is None:
            now = clock.now_ns()
            log.start_ns = now
            position = max(0, (now - origin_ns) * SAMPLE_RATE // 1_000_000_000)
        out = np.take(samples, np.arange(position, position + n), mode="wrap").astype(np.float32)
        position += n
        log.add(out)
        return out

    return feed


@dataclass
class ReceivedVoice:
    """What an output device took: samples and when each block was handed over."""

    samples: list[np.ndarray] = field(default_factory=list)
    """float32 mono blocks at VOICE_RATE, in order."""
    handoff_ns: list[int] = field(default_factory=list)
    """Monotonic time each block was handed to the output."""
    spill: Path | None = None
    """Where new blocks go instead of `samples` (raw float32, appended)."""

    def add(self, block: np.ndarray, handoff_ns: int) -> None:
        """Keep one block handed over at `handoff_ns` (in `spill` when set)."""
        _keep(block, self.samples, self.spill)
        self.handoff_ns.append(handoff_ns)

    def stream(self) -> np.ndarray:
        """All samples taken."""
        return _joined(self.samples, self.spill)


class VirtualOutput:
    """A sound output without a device: a thread that pulls `pull(play_us, n)` every 20 ms, on schedule, and
    keeps what it got (for the demo video and the mouth-to-ear measurement)."""

    def __init__(self, pull: Callable[[float, int], np.ndarray], *, clock: Clock = MONOTONIC,
                 spill: Path | None = None) -> None:
        """`pull(play_us, n)` gives `n` samples to play at `play_us`; `clock` schedules the pulls; what it takes
        goes to the file `spill` when given (ReceivedVoice.spill)."""
        self._pull = pull
        self._clock = clock
        self.taken = ReceivedVoice(spill=spill)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="codecav-voice-out", daemon=True)

    def start(self) -> None:
        """Start pulling."""
        self._thread.start()

    def _run(self) -> None:
        clock = self._clock
        start = clock.now_ns()
        block = 0
        while not self._stop.is_set():
            due = start + block * FRAME_SAMPLES * 1_000_000_000 // SAMPLE_RATE
            wait_ns = due - clock.now_ns()
            if wait_ns > 0 and clock.wait_ns(self._stop, wait_ns):
                break
            now = clock.now_ns()
            self.taken.add(self._pull(now / 1000, FRAME_SAMPLES).astype(np.float32), now)
            block += 1

    def stop(self) -> None:
        """Stop pulling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)


@dataclass(frozen=True)
class MouthToEar:
    """Mouth-to-ear delays of one sender -> receiver voice stream."""

    handoff_ns: np.ndarray
    """int64 hand-off times (receiver clock) of the blocks that carried the sender's audio."""
    delay_ns: np.ndarray
    """float64 delay of each: hand-off minus capture of its first sample."""
    correlation: float
    """How well the played audio matched the sent audio at the found alignment (about 1: the same audio)."""


def _best_match(chunk: np.ndarray, sent: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """(j, normalised correlation): the start j in sent[lo:hi + chunk.size] where `chunk` matches best."""
    lo, hi = max(lo, 0), min(hi, sent.size - chunk.size)
    if hi < lo:
        return -1, 0.0
    seg = sent[lo: hi + chunk.size].astype(np.float64)
    x = chunk.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(seg.size + x.size)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(x, size)) * np.fft.rfft(seg, size), size)[: hi - lo + 1]
    energy = np.concatenate([[0.0], np.cumsum(seg * seg)])
    window = np.sqrt(np.maximum(energy[x.size:x.size + hi - lo + 1] - energy[: hi - lo + 1], 1e-12))
    score = corr / (window * (np.linalg.norm(x) or 1.0))
    k = int(np.argmax(score))
    return lo + k, float(score[k])


def mouth_to_ear_ns(received: ReceivedVoice, sent: SentVoice, clock_offset_ns: float,
                    max_delay_s: float = 1.0, chunk_s: float = 0.1, min_correlation: float = 0.6) -> MouthToEar:
    """Mouth-to-ear delays from what an output played and what a sender sent (sender clock mapped onto the
    receiver's by subtracting `clock_offset_ns` = sender - receiver).

    The received stream is cut into `chunk_s` chunks; each chunk with sound is found in the sent audio among
    the places captured 0 .. `max_delay_s` before it was played (an adaptive playout delay moves the match
    over time, and a looping clip repeats: only one repeat lies in that window). A chunk matching with at least
    `min_correlation` gives one delay: its hand-off time minus the capture time of the matched sent sample.
    (Chunks of concealed or stretched voice match no sent place well: in the impaired calls of
    benchmarks/conversation.py all the matches 400 ms or more off their neighbours scored 0.51-0.54, the true
    ones mostly above 0.8; hence 0.6.)
    `correlation` is the median match of the chunks that had sound."""
    rx, tx = received.stream(), sent.stream()
    if sent.start_ns is None or not received.handoff_ns or rx.size == 0:
        return MouthToEar(np.zeros(0, np.int64), np.zeros(0), 0.0)
    sender_start_ns = sent.start_ns - clock_offset_ns
    block_starts = np.concatenate([[0], np.cumsum([b.size for b in received.samples])])
    chunk = int(chunk_s * VOICE_RATE)
    handoffs, delays, scores = [], [], []
    for p in range(0, rx.size - chunk + 1, chunk):
        piece = rx[p: p + chunk]
        if float(np.sqrt(np.mean(piece * piece))) < 0.005:
            continue  # silence: nothing to match
        block = int(np.searchsorted(block_starts, p, side="right") - 1)
        played_ns = received.handoff_ns[block] + (p - block_starts[block]) * 1e9 / VOICE_RATE
        # Sent samples captured between max_delay_s before the play time and the play time itself.
        latest = int((played_ns - sender_start_ns) * VOICE_RATE / 1e9)
        j, score = _best_match(piece, tx, latest - int(max_delay_s * VOICE_RATE), latest)
        scores.append(score)
        if j >= 0 and score >= min_correlation:
            handoffs.append(int(played_ns))
            delays.append(played_ns - (sender_start_ns + j * 1e9 / VOICE_RATE))
    corr = float(np.median(scores)) if scores else 0.0
    return MouthToEar(np.asarray(handoffs, np.int64), np.asarray(delays, np.float64), corr)
