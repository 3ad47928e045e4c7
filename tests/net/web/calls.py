"""Helpers of the browser call tests: a served site with test avatars, a WAV for the fake microphone, the page URL
for a participant, and polling the page's state."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from codecav.net.signaling.server import SignalingServer, make_join_token
from codecav.net.web.site import ExtraFile, WebSite, WebSiteConfig
from tests.net.calls import ROOM, SECRET, small_avatar


def site_with_test_avatar(extra: dict[str, ExtraFile] | None = None) -> WebSite:
    """The page's site plus /test/web.cavatar (a small synthetic avatar, quick for codecav to verify)."""
    files: dict[str, ExtraFile] = {"/test/web.cavatar": lambda: small_avatar(3).data, **(extra or {})}
    return WebSite(WebSiteConfig(extra_files=files))


def write_voice_wav(path: Path, seconds: float = 4.0) -> Path:
    """A 48 kHz mono 16-bit WAV of voiced-like tones (a 180 Hz buzz with harmonics, syllable envelope)."""
    t = np.arange(int(48000 * seconds)) / 48000
    buzz = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    pcm = (0.25 * buzz * envelope / 2.3 * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(48000)
        f.writeframes(pcm.tobytes())
    return path


def page_url(server: SignalingServer, peer: str, **extra: str) -> str:
    """The page joining ROOM as `peer` at once, with its token and the small test avatar."""
    query = {"room": ROOM, "peer": peer, "token": make_join_token(SECRET, ROOM, peer, 120),
             "avatarUrl": "/test/web.cavatar", "join": "1", "size": "64x64", **extra}
    return f"{server.http_url}?{urlencode(query)}"


async def page_until(page: Any, condition: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """Poll `await codecav.state()` until the JS expression `condition` (over `s`) holds; the last state.
    AssertionError with the state when it does not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        script = f"(async () => {{ const s = await codecav.state(); return {{ok: !!({condition}), s}}; }})()"
        state = await page.evaluate(script)
        if state["ok"]:
            return dict(state["s"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"page never reached {condition}: {state.get('s')}")
