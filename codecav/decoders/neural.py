"""OnnxNeuralDecoder: runs an avatar package's ONNX decoder (latent, view_dir) -> (geometry, features), with
onnxruntime's logging off and, for decoders that came from someone else, a time budget per call: a decoder
that keeps running over it, or runs far over it once, is dropped (DecoderOverBudget) and never run again."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from codecav.assets.ort_options import ORT_SILENT, session_options
from codecav.clock import MONOTONIC, Clock
from codecav.decoders.base import DECODER_INPUTS, DECODER_OUTPUTS, DecodedFrame, NeuralDecoder
from codecav.errors import CodecavError


class DecoderModelError(CodecavError):
    """The ONNX decoder cannot be loaded or run, or does not have the decoder interface; `reason` is a stable
    key for counters."""

    reason = "decoder_invalid"
    """'decoder_invalid' (load or interface), 'decode_failed', 'decode_over_budget' or 'decode_aborted'."""


class DecodeFailedError(DecoderModelError):
    """onnxruntime raised while decoding a frame (e.g. an index out of range for this latent code)."""

    reason = "decode_failed"


class DecoderOverBudget(DecoderModelError):
    """The decoder blew its DecodeBudget and is dropped: this call and every later one raise this."""

    def __init__(self, message: str, reason: str, stats: DecodeStats) -> None:
        """`reason` is 'decode_over_budget' (too many slow calls in a row) or 'decode_aborted' (one call
        stopped at the abort deadline)."""
        super().__init__(message)
        self.reason = reason
        self.stats = stats
        """The decoder's counters when it was dropped."""


@dataclass(frozen=True)
class DecodeBudget:
    """How long a decoder from someone else may take per frame before it is dropped. A slow call on a busy
    machine is forgiven; a decoder that is slow call after call, or one call that runs on and on, is not."""

    call_ms: float = 100.0
    """A decode (session.run) longer than this is an overrun."""
    max_overruns: int = 10
    """Consecutive overruns that drop the decoder (reason 'decode_over_budget'); a call within budget
    resets the count."""
    abort_ms: float = 1000.0
    """A decode still running after this is stopped (onnxruntime RunOptions.terminate, checked between
    operators) and the decoder dropped at once (reason 'decode_aborted'). Real time, whatever the clock."""

    def __post_init__(self) -> None:
        """call_ms > 0, max_overruns >= 1, abort_ms >= call_ms."""
        if self.call_ms <= 0 or self.max_overruns < 1 or self.abort_ms < self.call_ms:
            raise ValueError(f"DecodeBudget needs call_ms > 0, max_overruns >= 1 and abort_ms >= call_ms, got {self}")


@dataclass
class DecodeStats:
    """Counters of one decoder's calls (read them for call stats; the decoder updates them)."""

    calls: int = 0
    """decode() calls that ran the model."""
    overruns: int = 0
    """Calls over DecodeBudget.call_ms, in all."""
    consecutive_overruns: int = 0
    """Overruns since the last call within budget."""
    last_ms: float = 0.0
    """Duration of the latest call."""
    worst_ms: float = 0.0
    """Longest call so far."""
    dropped_reason: str = ""
    """'' while in use; the reason key once dropped."""


class OnnxNeuralDecoder(NeuralDecoder):
    """The neural part of an avatar on onnxruntime's CPU provider; one session, reused every frame.

    With a `budget` (give one to every decoder that arrived from a peer), each call is timed on `clock`;
    see DecodeBudget for when it is dropped. Once dropped, decode() raises DecoderOverBudget at once."""

    def __init__(self, decoder_onnx: bytes, *, threads: int = 1, budget: DecodeBudget | None = None,
                 clock: Clock = MONOTONIC) -> None:
        """Load the model; `threads` sets both intra- and inter-op thread counts (>= 1)."""
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        options = session_options(threads, threads)
        try:
            self._session = ort.InferenceSession(decoder_onnx, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise DecoderModelError(f"cannot load the ONNX decoder ({type(exc).__name__}); re-export it") from exc
        inputs = {i.name for i in self._session.get_inputs()}
        outputs = {o.name for o in self._session.get_outputs()}
        missing = [n for n in DECODER_INPUTS if n not in inputs] + [n for n in DECODER_OUTPUTS if n not in outputs]
        if missing:
            raise DecoderModelError(
                f"ONNX decoder lacks {missing}; it must take {DECODER_INPUTS} and produce {DECODER_OUTPUTS}"
            )
        self.threads = threads
        """onnxruntime intra/inter-op threads."""
        self.budget = budget
        """The time budget per call, or None (trusted decoders: the sender's own, the samples)."""
        self.stats = DecodeStats()
        """Call counters, for call stats."""
        self._clock = clock

    @property
    def dropped(self) -> bool:
        """True once the decoder blew its budget; decode() then raises DecoderOverBudget."""
        return bool(self.stats.dropped_reason)

    def decode(self, latent: np.ndarray, view_dir: np.ndarray) -> DecodedFrame:
        """Decode one frame; features come back as float32 [H, W, C] C-contiguous (from NCHW).
        DecodeFailedError if onnxruntime fails; DecoderOverBudget when the budget drops the decoder."""
        if self.dropped:
            raise self._over(self.stats.dropped_reason)
        feeds = {
            "latent": np.ascontiguousarray(latent, dtype=np.float32).reshape(1, -1),
            "view_dir": np.ascontiguousarray(view_dir, dtype=np.float32).reshape(1, 3),
        }
        run_options = ort.RunOptions()
        run_options.log_severity_level = ORT_SILENT
        budget = self.budget
        start_ns = 0
        if budget is not None:  # no budget, no clock reads and no watchdog
            start_ns = self._clock.now_ns()
            _WATCHDOG.arm(run_options, budget.abort_ms)
        try:
            geometry, features = self._session.run(list(DECODER_OUTPUTS), feeds, run_options)
        except Exception as exc:  # onnxruntime's Fail/RuntimeException; also the terminate flag
            if budget is not None and run_options.terminate:
                self._record(self._clock.now_ns() - start_ns)
                self.stats.dropped_reason = "decode_aborted"
                raise self._over("decode_aborted") from None
            text = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise DecodeFailedError(f"the ONNX decoder failed on this frame ({text}); re-export it") from None
        finally:
            if budget is not None:
                _WATCHDOG.disarm(run_options)
        if budget is not None:
            self._record(self._clock.now_ns() - start_ns)
            if self.stats.consecutive_overruns >= budget.max_overruns:
                self.stats.dropped_reason = "decode_over_budget"
                raise self._over("decode_over_budget")
        return DecodedFrame(
            geometry=np.ascontiguousarray(np.asarray(geometry, dtype=np.float32)[0]),
            features=np.ascontiguousarray(np.asarray(features, dtype=np.float32)[0].transpose(1, 2, 0)),
        )

    def _record(self, elapsed_ns: int) -> None:
        assert self.budget is not None
        ms = elapsed_ns / 1e6
        stats = self.stats
        stats.calls += 1
        stats.last_ms = ms
        stats.worst_ms = max(stats.worst_ms, ms)
        if ms > self.budget.call_ms:
            stats.overruns += 1
            stats.consecutive_overruns += 1
        else:
            stats.consecutive_overruns = 0

    def _over(self, reason: str) -> DecoderOverBudget:
        assert self.budget is not None
        b, s = self.budget, self.stats
        if reason == "decode_aborted":
            what = f"a decode ran past {b.abort_ms:g} ms and was stopped"
        else:
            what = f"{s.consecutive_overruns} decodes in a row took over {b.call_ms:g} ms (latest {s.last_ms:.0f} ms)"
        return DecoderOverBudget(f"decoder dropped: {what}; the avatar needs a cheaper decoder (or a faster "
                                 "machine)", reason, s)


class _Watchdog:
    """One daemon thread that sets RunOptions.terminate on decodes past their abort deadline (lazily started;
    arm/disarm cost a lock and a wake-up per call)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._deadlines: dict[int, tuple[int, ort.RunOptions]] = {}
        self._thread: threading.Thread | None = None

    def arm(self, run_options: ort.RunOptions, abort_ms: float) -> None:
        """Terminate the run using `run_options` if it is not disarmed within `abort_ms`."""
        with self._lock:
            self._deadlines[id(run_options)] = (self._clock.now_ns() + int(abort_ms * 1e6), run_options)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="decode-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()

    def disarm(self, run_options: ort.RunOptions) -> None:
        """The run has ended."""
        with self._lock:
            self._deadlines.pop(id(run_options), None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                now = self._clock.now_ns()
                for key, (deadline, run_options) in list(self._deadlines.items()):
                    if deadline <= now:
                        run_options.terminate = True
                        del self._deadlines[key]
                nearest = min((d for d, _ in self._deadlines.values()), default=None)
                self._wake.clear()
            # An idle watchdog sleeps until armed; an armed one wakes at the nearest deadline (or earlier).
            self._clock.wait_ns(self._wake, 3_600 * 10**9 if nearest is None else max(nearest - now, 1))


_WATCHDOG = _Watchdog(MONOTONIC)
