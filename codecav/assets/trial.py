"""Trial runs of a package's models in a child process before anything else runs them: the child caps its
own CPU time and address space (resource.setrlimit) and the parent holds it to a wall-clock deadline and
kills it past that, so a model that the static bounds let through but that would hang, eat the machine or
crash onnxruntime costs one refused avatar, not the caller. onnxruntime's logging stays in the child."""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecav.assets.errors import InvalidMemberError, TrialRunError

GiB = 1024**3


@dataclass(frozen=True)
class TrialLimits:
    """Limits of one trial run (all models of a package, one after the other, in one child process)."""

    wall_s: float = 10.0
    """Deadline for the whole child, start-up included; past it the child is killed (reason trial_timeout)."""
    cpu_s: int = 10
    """CPU seconds the child may use (RLIMIT_CPU; reason trial_cpu_limit)."""
    address_space_bytes: int = 4 * GiB
    """Address space the child may map (RLIMIT_AS; reason trial_memory_limit), plus four times the largest
    interface tensor (so a manifest that declares a bigger feature map gets room for it). The interpreter,
    NumPy and onnxruntime map about 0.3 GiB of it before the model loads."""

    def __post_init__(self) -> None:
        """Every limit must be positive."""
        if self.wall_s <= 0 or self.cpu_s < 1 or self.address_space_bytes < 1:
            raise ValueError(f"TrialLimits must be positive, got {self}")


@dataclass(frozen=True)
class TrialInput:
    """One input of a trial model: zeros of a shape, optionally with a fixed last axis (e.g. view_dir +z)."""

    shape: tuple[int, ...]
    """Static shape."""
    dtype: str = "float32"
    """NumPy dtype name."""
    fill: tuple[float, ...] | None = None
    """Values broadcast along the last axis, or None for zeros."""


@dataclass(frozen=True)
class TrialModel:
    """One model to run in the trial: the given inputs in, the named outputs back."""

    member: str
    """Package member path, for messages."""
    model: bytes
    """The ONNX bytes."""
    inputs: dict[str, TrialInput]
    """Input name -> what to feed."""
    outputs: tuple[str, ...]
    """Output names to fetch."""


@dataclass(frozen=True)
class TrialOutput:
    """What one model gave in the trial."""

    member: str
    """Package member path."""
    ms: float
    """Session creation plus one run, in the child, milliseconds."""
    arrays: dict[str, np.ndarray]
    """Output name -> array, as the model gave it."""


DEFAULT_TRIAL_LIMITS = TrialLimits()
"""Limits of a trial run unless told otherwise."""


def trial_run(models: list[TrialModel], source: str, limits: TrialLimits = DEFAULT_TRIAL_LIMITS, *,
              interface_bytes: int = 0) -> list[TrialOutput]:
    """Run `models` once each in a limited child process; their outputs, or TrialRunError (timeout, CPU,
    memory, crash: reason trial_*) or InvalidMemberError (onnxruntime refused or failed: reason
    trial_run_error), one line each. `interface_bytes` is the largest input or output the models are meant
    to have (the manifest's feature map), which raises the address-space limit for big avatars."""
    address_space = limits.address_space_bytes + 4 * interface_bytes
    header = {
        "cpu_s": limits.cpu_s,
        "address_space_bytes": address_space,
        "jobs": [{"member": m.member, "size": len(m.model), "outputs": list(m.outputs),
                  "inputs": {k: {"shape": list(v.shape), "dtype": v.dtype, "fill": v.fill}
                             for k, v in m.inputs.items()}} for m in models],
    }
    blob = json.dumps(header).encode()
    stdin = len(blob).to_bytes(8, "big") + blob + b"".join(m.model for m in models)
    member = models[0].member if models else None
    try:
        child = _take_prestarted() or _start_child()
    except OSError as exc:
        raise TrialRunError(source, member, f"trial run could not start ({exc})",
                            "check that the Python interpreter can start a child process",
                            reason="trial_crashed") from None
    try:
        stdout, _ = child.communicate(stdin, timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        done, _ = _scan(_kill(child), models)
        raise TrialRunError(source, models[min(len(done), len(models) - 1)].member,
                            f"trial run took more than {limits.wall_s:g} s and was stopped",
                            "re-export the avatar with a cheaper decoder", reason="trial_timeout") from None
    except BaseException:
        _kill(child)
        raise
    done, failure = _scan(stdout, models)
    if failure is not None:
        raise _refusal(failure, models[len(done)].member, source, address_space)
    if len(done) < len(models):
        raise _died(child.returncode, models[len(done)].member, source, limits)
    return done


def _start_child() -> subprocess.Popen[bytes]:
    """A trial child, loading onnxruntime and then waiting for its job on stdin (OSError if it cannot start)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-m", "codecav.assets.trial_child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)


_prestarted: subprocess.Popen[bytes] | None = None
_prestarted_lock = threading.Lock()


def prestart_trial_child() -> None:
    """Start the next trial run's child now, so that its start-up (an interpreter and onnxruntime, ~0.3 s) overlaps
    whatever comes before the trial, e.g. an avatar's transfer. At most one waits; the next `trial_run` takes it
    (its wall-clock deadline then counts from the hand-over). Unused, it exits when this process does (its stdin
    closes) or when `discard_prestarted_trial_child` is called. Failing to start is left to `trial_run`."""
    global _prestarted
    with _prestarted_lock:
        if _prestarted is not None and _prestarted.poll() is None:
            return
        try:
            _prestarted = _start_child()
        except OSError:
            _prestarted = None


def _take_prestarted() -> subprocess.Popen[bytes] | None:
    """The waiting child if it is still alive (else None, and it is reaped)."""
    global _prestarted
    with _prestarted_lock:
        child, _prestarted = _prestarted, None
    if child is not None and child.poll() is not None:
        child.communicate()
        return None
    return child


def discard_prestarted_trial_child() -> None:
    """Stop a waiting child that no trial will use (it exits on the end of its stdin)."""
    child = _take_prestarted()
    if child is not None:
        try:
            child.communicate(b"", timeout=5)
        except subprocess.TimeoutExpired:
            _kill(child)


atexit.register(discard_prestarted_trial_child)


def _kill(child: subprocess.Popen[bytes]) -> bytes:
    """Kill the child's whole process group, reap it and return what it wrote."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()
    stdout, _ = child.communicate()
    return stdout


def _scan(stdout: bytes, models: list[TrialModel]) -> tuple[list[TrialOutput], dict[str, object] | None]:
    """The complete answers in `stdout`, in job order, and the first failed answer if any."""
    results: list[TrialOutput] = []
    pos = 0
    for model in models:
        end = stdout.find(b"\n", pos)
        if end < 0:
            break
        try:
            answer = json.loads(stdout[pos:end])
        except ValueError:
            break
        pos = end + 1
        if not answer.get("ok"):
            return results, answer
        arrays = {}
        for out in answer["outputs"]:
            nbytes = int(out["nbytes"])
            data = stdout[pos:pos + nbytes]
            pos += nbytes
            if len(data) != nbytes:
                return results, None
            arrays[out["name"]] = np.frombuffer(data, np.dtype(out["dtype"])).reshape(out["shape"])
        results.append(TrialOutput(model.member, float(answer["ms"]), arrays))
    return results, None


def _refusal(answer: dict[str, object], member: str, source: str, address_space: int) -> Exception:
    """The error of a model that onnxruntime refused or failed to run in the child."""
    error = str(answer.get("error", ""))[:200]
    if answer.get("memory"):
        return TrialRunError(source, member, f"ran out of its {_gib(address_space)} address space "
                             f"in the trial run ({error})", "re-export the avatar with a smaller decoder",
                             reason="trial_memory_limit")
    return InvalidMemberError(source, member, f"fails to run on onnxruntime ({error})",
                              "re-export the avatar with standard opset operators", reason="trial_run_error")


def _died(returncode: int, member: str, source: str, limits: TrialLimits) -> TrialRunError:
    """The error of a child that stopped without answering for `member`."""
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return TrialRunError(source, member, f"used more than {limits.cpu_s} s of CPU in the trial run and "
                             "was stopped", "re-export the avatar with a cheaper decoder", reason="trial_cpu_limit")
    how = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
    return TrialRunError(source, member, f"crashed onnxruntime in the trial run ({how})",
                         "re-export the avatar with standard opset operators", reason="trial_crashed")


def _gib(nbytes: int) -> str:
    return f"{nbytes / GiB:.1f} GiB"
