"""Join a codecav call from a web browser: this script runs the signaling server with the web page (what
`codecav signal --invite ROOM/web` does) and a Python participant with a shipped sample avatar, prints the link a
browser opens to join, and says what it receives from the browser.

Run: python examples/browser_call.py    (open the printed link in Chromium or a headset's browser; 120 s)

The browser fetches and verifies the Python participant's avatar, decodes and draws it with WebGL2, and sends its
own avatar (the shipped sample chosen on the page, driven by its camera, or synthetic frames without one) and its
microphone's voice. CODECAV_EXAMPLE_SMOKE=1 opens the link itself in headless Chromium (Playwright, Debian's
chromium) with a fake camera and microphone, and ends once each side has the other's frames; without Chromium it
says so in one line and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from typing import Any
from urllib.parse import urlencode

from codecav.assets.samples import SAMPLES_DIR
from codecav.cli.call import web_site
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_session import CallSession
from codecav.net.call_types import CallConfig
from codecav.net.peer import PeerConfig
from codecav.net.signaling.server import SignalingServer, make_join_token
from codecav.net.synthetic_sender import send_synthetic_frames

CHROMIUM = "/usr/bin/chromium"
ROOM = "browser-example"


def received(call: CallSession) -> str:
    """What the Python side has of the browser, in one line."""
    for peer in call.stats().peers:
        if peer.peer == "web":
            return (f"browser: avatar {peer.avatar}, {peer.frames_accepted} frames, "
                    f"{peer.audio_frames_received} voice frames")
    return "browser: not here yet"


async def open_in_headless_chromium(url: str, call: CallSession) -> None:
    """Smoke mode: be the browser participant, until each side has frames from the other."""
    from playwright.async_api import async_playwright

    args = ["--enable-unsafe-swiftshader", "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = await browser.new_page()
            await page.goto(url)
            async with asyncio.timeout(120):
                while True:
                    state: dict[str, Any] = await page.evaluate("codecav.state()")
                    remote = ((state.get("call") or {}).get("remotes") or {}).get("py") or {}
                    mine = next((p for p in call.stats().peers if p.peer == "web"), None)
                    if remote.get("framesDecoded", 0) >= 10 and mine is not None and mine.frames_accepted >= 10:
                        print(f"page: {remote.get('avatar')} avatar from py, {remote.get('framesDecoded')} frames "
                              f"decoded; own frames from {state.get('source')}")
                        print(received(call))
                        return
                    await asyncio.sleep(0.2)
        finally:
            await browser.close()


async def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    if smoke and not (os.path.exists(CHROMIUM) and shutil.which("node") is not None):
        print("browser_call: no headless Chromium here (apt-get install chromium); nothing to open the page with")
        return 0
    secret = secrets.token_bytes(32)
    site = web_site()  # as `codecav signal` serves it: the page, the samples, the webcam extra's face model
    async with SignalingServer("127.0.0.1", 0, secret, site=site) as server:
        config = CallConfig(room=ROOM, peer_id="py", signal_url=server.url,
                            token=make_join_token(secret, ROOM, "py", 3600), peer=PeerConfig(loopback_only=True))
        call = CallSession(config, OwnAvatar.from_path(SAMPLES_DIR / "lee.cavatar"), receive_voice=True)
        await call.start()
        query = {"room": ROOM, "peer": "web", "token": make_join_token(secret, ROOM, "web", 3600),
                 "avatar": "lee-shape1.cavatar", "join": "1", "size": "96x96" if smoke else "256x256"}
        url = f"{server.http_url}?{urlencode(query)}"
        print(f"Python participant 'py' (lee) is in room {ROOM}; join from a browser:\n  {url}", flush=True)
        talking = asyncio.ensure_future(send_synthetic_frames(call, 120 * 30))  # 2 minutes at 30 frames/s
        try:
            if smoke:
                await open_in_headless_chromium(url, call)
            else:
                for _ in range(24):
                    await asyncio.sleep(5)
                    print(received(call), flush=True)
        finally:
            talking.cancel()
            await call.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
