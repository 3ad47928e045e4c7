"""Loss 20% and jitter 30 ms on a real call: the receiver never freezes longer than 200 ms.

Through `tc netem` in a network namespace where the kernel allows it; and always through the user-space
impairment (drops and delays every datagram below DTLS), so the property is checked on every machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.net.lossy_call import run

ROOT = Path(__file__).resolve().parents[2]


def _netem_namespace() -> str:
    """A new network namespace with lo up and netem (loss 20%, delay 30 ms +- 30 ms) on it; skip if impossible."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        pytest.skip("ip/tc not installed (apt-get install iproute2)")
    name = f"codecav-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"network namespaces not permitted here ({made.stderr.strip()}); needs root/CAP_NET_ADMIN")
    steps = [["ip", "link", "set", "lo", "up"],
             ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", "20%", "delay", "30ms", "30ms"]]
    for step in steps:
        done = subprocess.run(["ip", "netns", "exec", name, *step], capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            pytest.skip(f"`{' '.join(step)}` failed in a namespace ({done.stderr.strip()}); the kernel needs "
                        "the sch_netem module (modprobe sch_netem)")
    return name


@pytest.mark.slow
def test_netem_loss_and_jitter_never_freeze_200_ms() -> None:
    name = _netem_namespace()
    try:
        done = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-m", "tests.net.lossy_call",
                               "--seconds", "6"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["longest_freeze_ms"] < 200, result
    assert result["frames_accepted"] > 0.6 * result["frames_sent"], result


def test_user_space_loss_and_jitter_never_freeze_200_ms() -> None:
    import asyncio

    from codecav.net.impairment import Impairment

    result = asyncio.run(run(5.0, Impairment(loss=0.2, delay_ms=30, jitter_ms=30, seed=1)))
    assert result["datagrams_dropped_by_impairment"] > 20
    assert result["longest_freeze_ms"] < 200, result
    assert result["frames_lost"] > 0.1 * result["frames_sent"], result  # the loss really hit the frames
    assert result["frames_accepted"] > 0.6 * result["frames_sent"], result
