"""OnnxNeuralDecoder's run-time budget (DecodeBudget): slow calls counted on an injected clock, a decoder
slow call after call dropped, one call past the abort deadline stopped; onnxruntime failures and logs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codecav.clock import FakeClock
from codecav.decoders.neural import (
    DecodeBudget,
    DecodeFailedError,
    DecoderModelError,
    DecoderOverBudget,
    OnnxNeuralDecoder,
)
from tests.assets.attacks import slow_decoder
from tests.decoders.test_neural import C, D, H, V, W, tiny_decoder


class SteppingClock(FakeClock):
    """Each call of a decode reads the clock twice (start, end): the call 'takes' the next step."""

    def __init__(self, steps_ms: list[float]) -> None:
        super().__init__()
        self.steps_ms = list(steps_ms)
        self.reads = 0

    def now_ns(self) -> int:
        if self.reads % 2 == 1:
            self.value += int(self.steps_ms.pop(0) * 1e6)
        self.reads += 1
        return self.value


def _decode(decoder: OnnxNeuralDecoder) -> None:
    decoder.decode(np.zeros(D, np.float32), np.array([0.0, 0.0, 1.0], np.float32))


def test_consecutive_overruns_drop_the_decoder() -> None:
    model, _ = tiny_decoder(np.random.default_rng(0))
    clock = SteppingClock([150, 150, 10, 150, 150, 150, 150])
    decoder = OnnxNeuralDecoder(model, budget=DecodeBudget(call_ms=100, max_overruns=3), clock=clock)
    for _ in range(5):  # two slow, one fast (resets the run), two slow
        _decode(decoder)
    assert not decoder.dropped
    with pytest.raises(DecoderOverBudget) as info:  # the third slow one in a row
        _decode(decoder)
    error = info.value
    assert decoder.dropped and error.reason == "decode_over_budget"
    assert str(error) == ("decoder dropped: 3 decodes in a row took over 100 ms (latest 150 ms); the avatar needs "
                          "a cheaper decoder (or a faster machine)")
    assert (error.stats.calls, error.stats.overruns, error.stats.worst_ms) == (6, 5, 150.0)
    calls = decoder.stats.calls
    with pytest.raises(DecoderOverBudget):  # dropped for good: nothing runs any more
        _decode(decoder)
    assert decoder.stats.calls == calls and isinstance(error, DecoderModelError)


def test_no_budget_means_no_watch() -> None:
    model, _ = tiny_decoder(np.random.default_rng(0))
    decoder = OnnxNeuralDecoder(model, clock=SteppingClock([]))  # the clock is never read
    for _ in range(3):
        _decode(decoder)
    assert decoder.stats.calls == 0 and not decoder.dropped


def test_a_call_past_the_abort_deadline_is_stopped() -> None:
    decoder = OnnxNeuralDecoder(slow_decoder(D, V, C, H, W), budget=DecodeBudget(call_ms=10, abort_ms=100))
    with pytest.raises(DecoderOverBudget) as info:  # unstopped, this call takes tens of seconds
        _decode(decoder)
    assert info.value.reason == "decode_aborted" and decoder.dropped
    assert "a decode ran past 100 ms and was stopped" in str(info.value)


def test_budget_validation() -> None:
    with pytest.raises(ValueError, match="abort_ms >= call_ms"):
        DecodeBudget(call_ms=100, abort_ms=50)


def test_runtime_failure_is_one_line_and_onnxruntime_stays_quiet() -> None:
    # In a child: onnxruntime's logger writes to the process's stderr, which pytest cannot capture.
    code = textwrap.dedent("""
        import numpy as np, onnx
        from onnx import helper, numpy_helper
        from codecav.decoders.neural import DecodeFailedError, OnnxNeuralDecoder
        from tests.decoders.test_neural import D, V, tiny_decoder
        model = onnx.load_model_from_string(tiny_decoder(np.random.default_rng(0))[0])
        for node in model.graph.node:
            node.output[:] = ["g_pre" if o == "geometry" else o for o in node.output]
        model.graph.initializer.extend([numpy_helper.from_array(np.full(V, V + 7, np.int64), "bad"),
                                        numpy_helper.from_array(np.zeros(4, np.float32), "unused")])
        model.graph.node.append(helper.make_node("Gather", ["g_pre", "bad"], ["geometry"], axis=1))
        decoder = OnnxNeuralDecoder(model.SerializeToString())
        try:
            decoder.decode(np.zeros(D, np.float32), np.array([0, 0, 1], np.float32))
        except DecodeFailedError as exc:
            print(exc.reason, "|", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("decode_failed | the ONNX decoder failed on this frame (")
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""  # no warning about the unused initializer, no error line, no ANSI colour


def test_decode_failed_error_is_a_decoder_model_error() -> None:
    assert issubclass(DecodeFailedError, DecoderModelError) and DecodeFailedError.reason == "decode_failed"
