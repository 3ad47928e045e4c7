"""A Python participant (CallSession, real aiortc) and a browser participant (the page in real headless Chromium,
fake microphone from a WAV) call each other through a real SignalingServer that also serves the page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codecav.net.signaling.server import SignalingServer
from codecav.net.voice import VoiceTrack, wav_feed
from tests.net.calls import SECRET, latent_received, send_frames, session, small_avatar
from tests.net.loopback import until
from tests.net.test_voice_call import voiced
from tests.net.web.browser import async_chromium_page, fake_media_args
from tests.net.web.calls import page_until, page_url, site_with_test_avatar, write_voice_wav


@pytest.mark.parametrize("browser_first", [False, True], ids=["browser-offers", "browser-answers"])
def test_python_and_browser_exchange_frames_avatars_and_voice(tmp_path: Path, browser_first: bool) -> None:
    wav = write_voice_wav(tmp_path / "mic.wav")

    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET, site=site_with_test_avatar()) as server, \
                async_chromium_page(extra_args=fake_media_args(wav=str(wav))) as page:
            py = session(server, "py", tmp_path, seed=1, voice_track=VoiceTrack(wav_feed(voiced(4.0))),
                         receive_voice=True)
            if not browser_first:
                await py.start()
            await page.goto(page_url(server, "web"))
            await page_until(page, "s.phase === 'in call'")
            if browser_first:
                await py.start()
            try:
                await py.wait_for_peers(1, timeout_s=30)
                state = await page_until(page, "s.call.remotes.py && s.call.remotes.py.avatar === 'ready'")
                remote = state["call"]["remotes"]["py"]
                assert remote["avatarSha256"] == small_avatar(1).sha256
                assert remote["caps"] and "latent-v2" in remote["caps"]
                sender = asyncio.create_task(send_frames(py, 60))
                state = await page_until(page, "s.call.remotes.py.framesDecoded >= 30", timeout_s=15)
                await sender
                # the browser's frames and voice reached codecav
                assert await until(lambda: latent_received(py, "web") >= 30, 15), py.stats()
                assert await until(lambda: py.stats().peers[0].audio_frames_received >= 25, 15), py.stats()
                peer = py.stats().peers[0]
                assert peer.avatar == "ready" and peer.frames_accepted >= 20, peer
                assert not peer.wire_dropped.get("invalid_field"), peer.wire_dropped
                # codecav's voice reached the browser's NetEQ
                state = await page_until(page, "s.voiceStats.py && s.voiceStats.py.packetsReceived >= 25")
                remote = state["call"]["remotes"]["py"]
                assert remote["drops"] == {} or set(remote["drops"]) <= {"no_clock"}, remote
                assert state["voice"] is True and state["error"] == ""
                # and the browser drew codecav's avatar with the avatar module (onnxruntime-web + WebGL2 PiCA)
                assert state["avatarModule"] == "loaded", state["avatarModuleError"]
                state = await page_until(page, "s.render && s.render.frames >= 3", timeout_s=20)
                assert state["render"]["errors"] == 0, state["render"]["lastError"]
            finally:
                await py.stop()

    asyncio.run(main())
