"""`codecav call` as a subprocess (the light test avatar ada driven by a recorded clip, the clip's recorded voice) and
the browser participant (Chromium's fake camera playing the real talking-face clip, fake microphone from a WAV)
in one room of a SignalingServer that also serves the page: the browser verifies and draws codecav's avatar and
plays its voice; `codecav call` reports the browser's frames and voice in its printed lines and call_stats.json."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time
import wave
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest

from codecav.net.signaling.server import SignalingServer, make_join_token
from codecav.net.web.site import WebSite, WebSiteConfig
from tests.assets.makehuman import ADA, MAKEHUMAN_DIR
from tests.net.calls import ROOM, SECRET
from tests.net.web.browser import async_chromium_page, fake_media_args, require_browser
from tests.net.web.calls import page_until, write_voice_wav

CALL_SECONDS = 300.0
"""An upper bound: the test ends the call with Ctrl-C (codecav call then leaves and writes its stats) once both
sides have what they need."""
PY_FRAMES = 120
"""Frames the page sends after codecav call shows its avatar, before the test ends the call (>= 30 must be
accepted: on a loaded machine about half were, the rest late for their playout or still in flight)."""
BROWSER_HAS_IT_ALL = ("s.call.remotes.py && s.call.remotes.py.avatar === 'ready' && s.render && s.render.frames >= 3 "
                      "&& s.call.remotes.py.framesDecoded >= 30 && s.voiceStats.py "
                      "&& s.voiceStats.py.packetsReceived >= 50")
"""The page verified and drew codecav's avatar, decoded its frames and got its voice."""
CLIP = Path(__file__).resolve().parents[3] / "codecav" / "assets" / "clips" / "0"
"""A shipped recorded clip: its expressions drive ada (--source clip:0) and its audio.wav is the voice."""


def face_model_site() -> tuple[WebSite, str]:
    """The page's site with the webcam extra's face model (the page's camera path), or without it and why."""
    try:
        from codecav.encoders.webcam.model import load_landmarker_model

        model = load_landmarker_model()
    except Exception as exc:  # the webcam extra is not installed: the page falls back to its synthetic source
        return WebSite(WebSiteConfig(samples_dir=MAKEHUMAN_DIR)), str(exc).split("\n")[0]
    return WebSite(WebSiteConfig(extra_files={"/models/face_landmarker.task": lambda: model},
                                 samples_dir=MAKEHUMAN_DIR)), ""


def camera_args(tmp: Path) -> tuple[str | None, str]:
    """The fake camera's .y4m (tests/net/web/camera_media.py) or None and why not."""
    from tests.encoders.webcam.media import MediaUnavailable
    from tests.net.web.camera_media import write_fake_camera

    try:
        return str(write_fake_camera(tmp).y4m), ""
    except ImportError:
        return None, "imageio-ffmpeg is not installed"
    except MediaUnavailable as exc:
        return None, f"talking-face clip unavailable: {exc}"


def codecav_command() -> list[str]:
    """The installed `codecav` script beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "codecav"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "codecav.cli.main"]


def wav_rms(path: Path) -> float:
    """RMS of a 16-bit WAV, full scale 1."""
    with wave.open(str(path)) as f:
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float32) / 32768
    return float(np.sqrt(np.mean(pcm**2))) if pcm.size else 0.0


MILESTONES = {
    "connected": "s.call.remotes.py && s.call.remotes.py.connected",
    "avatar ready": "s.call.remotes.py && s.call.remotes.py.avatar === 'ready'",
    "first draw": "s.render && s.render.frames >= 1",
    "voice": "s.voiceStats.py && s.voiceStats.py.packetsReceived >= 1",
}
"""What the page gets on the way (printed with the seconds since codecav call started)."""


async def browser_gets_it_all(page: Any, process: asyncio.subprocess.Process, started: float) -> dict[str, Any]:
    """Poll the page until BROWSER_HAS_IT_ALL (printing when each of MILESTONES came); AssertionError with the
    page's state and codecav call's output if codecav call leaves first."""
    checks = ", ".join(f"{json.dumps(name)}: !!({check})" for name, check in MILESTONES.items())
    script = (f"(async () => {{ const s = await codecav.state(); "
              f"return {{ok: !!({BROWSER_HAS_IT_ALL}), marks: {{{checks}}}, s}}; }})()")
    seen: dict[str, float] = {}
    while True:
        result = await page.evaluate(script)
        for name, done in result["marks"].items():
            if done and name not in seen:
                seen[name] = round(time.monotonic() - started, 1)
        if result["ok"]:
            print(f"browser, seconds after codecav call started: {seen}; all {time.monotonic() - started:.1f}")
            return dict(result["s"])
        if process.returncode is not None:
            stdout, stderr = await process.communicate()
            raise AssertionError(f"codecav call left (rc {process.returncode}) before the browser had it all "
                                 f"({seen}). Page: {result['s']}\n"
                                 f"{stdout.decode()}{stderr.decode()[-2000:]}")
        await asyncio.sleep(0.1)


async def read_lines(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    """Collect codecav call's stdout as it comes, until it closes."""
    assert process.stdout is not None
    async for line in process.stdout:
        lines.append(line.decode())


async def python_shows(lines: list[str], text: str, process: asyncio.subprocess.Process) -> None:
    """Until codecav call printed a line containing `text`; AssertionError if it left first."""
    while not any(text in line for line in lines):
        assert process.returncode is None, "codecav call left before: " + "".join(lines)
        await asyncio.sleep(0.1)


@pytest.mark.gl  # codecav call renders headless (EGL)
def test_codecav_call_subprocess_and_browser_call_each_other(tmp_path: Path) -> None:
    require_browser()
    if not (CLIP / "audio.wav").is_file():
        pytest.skip(f"no shipped clip at {CLIP}")
    y4m, camera_note = camera_args(tmp_path)
    mic = write_voice_wav(tmp_path / "mic.wav")
    site, model_note = face_model_site()
    ada = ADA
    out = tmp_path / "out"

    async def main() -> tuple[dict[str, Any], str, str]:
        async with SignalingServer("127.0.0.1", 0, SECRET, site=site) as server, \
                async_chromium_page(extra_args=fake_media_args(wav=str(mic), y4m=y4m)) as page:
            query = {"room": ROOM, "peer": "web", "token": make_join_token(SECRET, ROOM, "web", 300),
                     "avatar": "ada.cavatar", "join": "1", "size": "48x48"}
            await page.goto(f"{server.http_url}?{urlencode(query)}")
            await page_until(page, "s.phase === 'in call'", 30)
            command = [*codecav_command(), "call", "--room", ROOM, "--signal", server.url,
                       "--peer", "py", "--token", make_join_token(SECRET, ROOM, "py", 300), "--avatar", str(ada),
                       "--source", "clip:0", "--voice", str(CLIP / "audio.wav"), "--seconds", str(CALL_SECONDS),
                       "--size", "64x48", "--loopback", "--out", str(out)]
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "CODECAV_CACHE": str(tmp_path / "cache")})
            try:
                # the browser: codecav's avatar verified and drawn, its frames decoded, its voice playing (while
                # codecav call is still there: it leaves after CALL_SECONDS)
                lines: list[str] = []
                reading = asyncio.ensure_future(read_lines(process, lines))
                state = await browser_gets_it_all(page, process, started)
                await python_shows(lines, "web is here", process)
                # codecav call takes the page's frames once it has the page's avatar: PY_FRAMES more sent from now
                shown_at = await page.evaluate("(async () => (await codecav.state()).call.remotes.py.latentSent)()")
                await page_until(page, f"s.call.remotes.py.latentSent >= {shown_at + PY_FRAMES}", 60)
                process.send_signal(signal.SIGINT)  # leave now and write the stats
                await asyncio.wait_for(reading, 90)
                stderr = await process.stderr.read() if process.stderr is not None else b""
                await process.wait()
                stdout = "".join(lines).encode()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            assert process.returncode == 0, stderr.decode()[-2000:]
            return state, stdout.decode(), stderr.decode()

    state, stdout, stderr = asyncio.run(main())
    print(stdout)
    print(f"page source: {state['source']} ({state['sourceNote'] or camera_note or model_note})")

    # the browser verified codecav's avatar (the shipped ada), drew it and got its voice
    remote = state["call"]["remotes"]["py"]
    assert remote["avatarSha256"] == hashlib.sha256(ada.read_bytes()).hexdigest()
    assert state["refusals"] == [] and state["error"] == ""
    assert state["render"]["errors"] == 0, state["render"]["lastError"]
    voice = state["voiceStats"]["py"]
    assert voice["totalAudioEnergy"] and voice["totalAudioEnergy"] > 0, voice
    assert state["voice"] is True
    if y4m is not None and not model_note:
        assert state["source"] == "camera", state["sourceNote"]

    # codecav call got the browser's avatar, frames and voice
    assert "joined room" in stdout
    stats = json.loads((out / "call_stats.json").read_text())
    (peer,) = [p for p in (*stats["peers"], *stats["departed"]) if p["peer"] == "web"]
    assert peer["avatar"] == "ready", peer
    assert peer["frames_accepted"] >= 30, peer
    assert peer["audio_frames_received"] >= 50, peer
    assert not peer["wire_dropped"].get("invalid_field"), peer["wire_dropped"]
    assert "  web: avatar ready" in stdout
    assert wav_rms(out / "voice_received.wav") > 0.01, "the browser's microphone reached codecav"
    poses = json.loads((out / "received_head_poses.json").read_text())
    assert len(poses.get("web", [])) >= 10
