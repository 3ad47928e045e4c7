"""The child process of a trial run (`python -m codecav.assets.trial_child`, started by codecav.assets.trial):
caps its own CPU time, address space and core dumps, then runs each model it is sent once on onnxruntime
with logging off, and answers on stdout. Protocol: stdin is an 8-byte big-endian header length, a JSON
header ({"cpu_s", "address_space_bytes", "jobs": [{"member", "size", "inputs": {name: {"shape", "dtype",
"fill"}}, "outputs"}]})
and the models' bytes in job order; stdout is, per job, one JSON line ({"member", "ok", "ms", "error",
"memory", "outputs": [{"name", "dtype", "shape", "nbytes"}]}) followed by the raw output bytes."""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

_MEMORY_WORDS = ("bad_alloc", "failed to allocate", "memoryerror", "out of memory", "cannot allocate")


def _limit(cpu_s: int, address_space_bytes: int) -> None:
    """CPU seconds (SIGXCPU at the soft limit, SIGKILL a second later), address space, no core files."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))


def _run_job(ort: Any, np: Any, job: dict[str, Any], model: bytes) -> tuple[dict[str, Any], list[bytes]]:
    from codecav.clock import MONOTONIC

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    options.log_verbosity_level = 0
    start = MONOTONIC.now_ns()
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        feeds = {}
        for name, spec in job["inputs"].items():
            feeds[name] = np.zeros(spec["shape"], np.dtype(spec["dtype"]))
            if spec.get("fill") is not None:
                feeds[name][...] = np.asarray(spec["fill"], feeds[name].dtype)
        results = session.run(list(job["outputs"]), feeds)
    except BaseException as exc:  # onnxruntime's Fail/RuntimeException, MemoryError
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        memory = isinstance(exc, MemoryError) or any(w in text.lower() for w in _MEMORY_WORDS)
        return {"member": job["member"], "ok": False, "error": text, "memory": memory}, []
    ms = (MONOTONIC.now_ns() - start) / 1e6
    described, payload = [], []
    for name, value in zip(job["outputs"], results, strict=True):
        array = np.ascontiguousarray(np.asarray(value))
        described.append({"name": name, "dtype": str(array.dtype), "shape": list(array.shape),
                          "nbytes": int(array.nbytes)})
        payload.append(array.tobytes())
    return {"member": job["member"], "ok": True, "ms": ms, "outputs": described}, payload


def main() -> int:
    """Load onnxruntime, then read the jobs from stdin, run them under the limits and answer on stdout; exit 0
    unless killed. A child started ahead of its job (codecav.assets.trial.prestart_trial_child) waits for it
    here with onnxruntime loaded, and exits quietly if its parent closes stdin without sending one."""
    import numpy as np
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    stdin = sys.stdin.buffer
    length = stdin.read(8)
    if len(length) < 8:
        return 0  # no job came
    header = json.loads(stdin.read(int.from_bytes(length, "big")))
    _limit(int(header["cpu_s"]), int(header["address_space_bytes"]))
    out = sys.stdout.buffer
    for job in header["jobs"]:
        model = stdin.read(int(job["size"]))
        answer, payload = _run_job(ort, np, job, model)
        out.write(json.dumps(answer).encode() + b"\n")
        for chunk in payload:
            out.write(chunk)
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
