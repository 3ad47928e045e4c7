"""Fixtures of the encoder tests: a synthetic avatar with a (random linear) expression encoder, a dummy JACK
server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from codecav.assets.package import AvatarPackage
from codecav.assets.synthetic.avatar import build_synthetic_avatar


@pytest.fixture(scope="session")
def driven_avatar() -> AvatarPackage:
    """build_synthetic_avatar(3) with encoders/expression.onnx; tests must not modify its arrays."""
    return build_synthetic_avatar(3, expression_encoder=True)


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """A dummy JACK server (48 kHz, 10 ms periods) for the session, PortAudio rescanned to see it; skipped
    with the fix when jackd is missing."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd is missing; apt-get install jackd2")
    from codecav.encoders.audio.microphone import rescan_devices

    name = f"codecav-test-{os.getpid()}"
    env = {"JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_NO_START_SERVER": "1"}
    saved = {k: os.environ.get(k) for k in env}
    proc = subprocess.Popen([jackd, "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "480"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    os.environ.update(env)
    try:
        ok = subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, text=True).returncode == 0
        if not ok or proc.poll() is not None:
            pytest.skip("jackd did not start (dummy driver)")
        rescan_devices()
        yield name
    finally:
        import sounddevice

        sounddevice._terminate()  # close PortAudio's JACK client while the server still runs (else libjack aborts)
        proc.terminate()
        proc.wait(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sounddevice._initialize()
