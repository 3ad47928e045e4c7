"""`codecav signal` and `codecav call` as users run them: separate processes on loopback, with voice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.writer import write_avatar
from codecav.cli.call import load_or_create_secret
from codecav.cli.main import main
from codecav.net.voice import SAMPLE_RATE, read_wav_mono_48k
from tests.net.loopback import free_port
from tests.net.test_voice import clicks, onsets, write_wav


def codecav(*args: str, cache: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CODECAV_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-m", "codecav", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_processes_call_with_voice(tmp_path: Path) -> None:
    port = free_port()
    secret = tmp_path / "secret.txt"
    small = {"feature_size": 16, "mesh_resolution": (8, 12)}
    alice_avatar = write_avatar(build_synthetic_avatar(seed=1, **small), tmp_path / "alice.cavatar")  # type: ignore[arg-type]
    bob_avatar = write_avatar(build_synthetic_avatar(seed=2, **small), tmp_path / "bob.cavatar")  # type: ignore[arg-type]
    wav = write_wav(tmp_path / "clicks.wav", clicks(2.0), SAMPLE_RATE)
    server = start_signal(port, secret, 40, tmp_path / "cache-s")
    try:
        url = f"ws://127.0.0.1:{port}/ws"
        common = ["--room", "r1", "--signal", url, "--secret-file", str(secret), "--loopback", "--size", "160x120"]
        alice = codecav("call", *common, "--peer", "alice", "--avatar", str(alice_avatar), "--voice", str(wav),
                        "--seconds", "9", cache=tmp_path / "cache-a")
        bob = codecav("call", *common, "--peer", "bob", "--avatar", str(bob_avatar), "--seconds", "6",
                      "--out", str(tmp_path / "bob"), cache=tmp_path / "cache-b")
        bob_out, _ = bob.communicate(timeout=60)
        alice_out, _ = alice.communicate(timeout=60)
    finally:
        server.terminate()
        server.wait(10)
    assert bob.returncode == 0, bob_out
    assert alice.returncode == 0, alice_out
    stats = json.loads((tmp_path / "bob" / "call_stats.json").read_text())
    peer = next(p for p in stats["peers"] + stats["departed"] if p["peer"] == "alice")
    assert peer["avatar"] == "ready" and stats["avatar_fetched"] == 1
    assert peer["frames_accepted"] > 60  # 30 frames/s for several seconds
    assert peer["audio_frames_received"] > 60  # 50 voice frames/s
    assert abs(peer["clock_offset_us"]) < 5_000  # one machine, one monotonic clock
    heard = read_wav_mono_48k(tmp_path / "bob" / "voice_received.wav")
    assert len(onsets(heard)) >= 3  # the clicks came through Opus and the playout
    assert (tmp_path / "bob" / "last_frame.png").is_file()
    assert "alice: avatar ready" in bob_out


def start_signal(port: int, secret: Path, seconds: int, cache: Path) -> subprocess.Popen[str]:
    """`codecav signal` on `port` (its secret in `secret`), once it listens."""
    server = codecav("signal", "--port", str(port), "--secret-file", str(secret), "--seconds", str(seconds),
                     cache=cache)
    deadline = time.monotonic() + 20
    while not secret.exists() or not _listening(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError("signaling server did not start")
        time.sleep(0.1)
    return server


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_call_without_token_or_secret_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    avatar = write_avatar(build_synthetic_avatar(seed=1, feature_size=16, mesh_resolution=(8, 12)),
                          tmp_path / "a.cavatar")
    code = main(["call", "--room", "r", "--signal", "ws://127.0.0.1:1/ws", "--avatar", str(avatar)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "--token" in err and "--secret-file" in err


def test_call_with_an_unknown_source_names_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    avatar = write_avatar(build_synthetic_avatar(seed=1, feature_size=16, mesh_resolution=(8, 12)),
                          tmp_path / "a.cavatar")
    code = main(["call", "--room", "r", "--signal", "ws://127.0.0.1:1/ws", "--avatar", str(avatar),
                 "--token", "x", "--source", "webcam9"])
    assert code == 2 and "synthetic" in capsys.readouterr().err


def test_signal_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "s" / "secret.txt"
    secret, created = load_or_create_secret(path)
    assert created and len(secret) == 64 and (path.stat().st_mode & 0o777) == 0o600
    again, created_again = load_or_create_secret(path)
    assert again == secret and not created_again


def test_call_source_from_a_recorded_clip_gives_paced_codes(tmp_path: Path) -> None:
    """A registered encoder source (a shipped clip) drives the avatar through its expression encoder in real time."""
    import time

    from codecav.encoders.clip import shipped_clip
    from codecav.runtime.call_app import open_source

    assert (shipped_clip(0) / "clip.json").is_file(), "shipped clip 0 is missing from codecav/assets/clips"
    package = build_synthetic_avatar(seed=1, feature_size=16, mesh_resolution=(8, 12), expression_encoder=True)
    with open_source("clip:0", package, fps=20.0) as source:
        started = time.monotonic()
        frames = [source.read(timeout=2.0) for _ in range(6)]
        elapsed = time.monotonic() - started
    codes = [f.code for f in frames if f is not None]
    assert len(codes) == 6 and all(c.shape == (package.manifest.latent.dim,) for c in codes)
    assert elapsed >= 0.2, "six frames at 20 fps take at least 0.25 s of real time"
    assert [f.sequence for f in frames if f is not None] == sorted(f.sequence for f in frames if f is not None)


def test_ctrl_c_leaves_the_call_and_writes_its_results(tmp_path: Path) -> None:
    port = free_port()
    secret = tmp_path / "secret.txt"
    avatar = write_avatar(build_synthetic_avatar(seed=1, feature_size=16, mesh_resolution=(8, 12)),
                          tmp_path / "a.cavatar")
    server = start_signal(port, secret, 60, tmp_path / "cache-s")
    try:
        call = codecav("call", "--room", "r1", "--signal", f"ws://127.0.0.1:{port}/ws", "--secret-file", str(secret),
                       "--loopback", "--size", "64x48", "--peer", "alice", "--avatar", str(avatar),
                       "--seconds", "300", "--out", str(tmp_path / "out"), cache=tmp_path / "cache-a")
        assert call.stdout is not None
        lines = []
        for line in call.stdout:  # until it is in the room
            lines.append(line)
            if line.startswith("joined room"):
                break
        assert lines and lines[-1].startswith("joined room"), "".join(lines)
        call.send_signal(signal.SIGINT)
        rest, _ = call.communicate(timeout=30)  # far less than its 300 s
    finally:
        server.terminate()
        server.wait(10)
    assert call.returncode == 0, "".join(lines) + rest
    assert "leaving the call (interrupted)" in rest
    assert json.loads((tmp_path / "out" / "call_stats.json").read_text())["peer_id"] == "alice"
