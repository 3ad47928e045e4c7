"""onnxruntime sessions for encoder and driver models: CPU, a fixed thread count, checked input/output names."""

from __future__ import annotations

import onnxruntime as ort

from codecav.assets.ort_options import session_options
from codecav.encoders.errors import EncoderModelError, one_line


def open_session(model: bytes | str, what: str, threads: int = 1) -> ort.InferenceSession:
    """A CPU session for `model` (bytes or a path) with `threads` intra-op threads and onnxruntime's logging
    off; EncoderModelError if onnxruntime cannot load it. `what` names the model in messages."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    options = session_options(threads, 1)
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise EncoderModelError(f"{what} cannot be loaded by onnxruntime ({one_line(exc)[:200]}); "
                                "re-export the model") from None


def check_io(session: ort.InferenceSession, what: str, inputs: dict[str, int | None],
             outputs: dict[str, int | None]) -> None:
    """EncoderModelError unless `session` has these input/output names with these last dimensions
    (None: any size)."""
    for kind, expected, actual in (("input", inputs, session.get_inputs()), ("output", outputs, session.get_outputs())):
        found = {a.name: a.shape for a in actual}
        for name, last in expected.items():
            if name not in found:
                raise EncoderModelError(f"{what} has no {kind} {name!r} (it has {sorted(found)}); "
                                        "re-export it with the documented names")
            dim = found[name][-1] if found[name] else None
            if last is not None and isinstance(dim, int) and dim != last:
                raise EncoderModelError(f"{what} {kind} {name!r} has last dimension {dim}, expected {last}; "
                                        "re-export it for this avatar")
