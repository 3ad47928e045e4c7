"""Shared Playwright helpers: headless Debian Chromium with the flags WebRTC-on-loopback and WebGL2 need.

`chromium_page()` (sync API, for tests without an event loop) and `async_chromium_page()` (async API, for
tests that also run aiortc/aiohttp on the same loop) each give one fresh Page and skip the test with a
one-line reason when Chromium or Playwright is missing. `served_site()` serves the page (and /ws) from a
SignalingServer on a background thread for sync tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Page as AsyncPage
    from playwright.sync_api import Page

    from codecav.net.signaling.server import SignalingServer
    from codecav.net.web.site import WebSite

TEST_SECRET = b"browser-test-secret-0123456789ab"
"""Signaling secret of the served test sites."""

CHROMIUM = os.environ.get("CODECAV_CHROMIUM", "/usr/bin/chromium")
"""The browser binary; Debian's `chromium` package (no Playwright browser download)."""

BASE_ARGS: tuple[str, ...] = (
    "--enable-unsafe-swiftshader",  # WebGL2 on the CPU rasterizer
    "--allow-loopback-in-peer-connection",  # ICE candidates on 127.0.0.1 (aiortc on loopback)
    "--disable-features=WebRtcHideLocalIpsWithMdns",  # plain IPs: aioice resolves .local slowly or never
    "--autoplay-policy=no-user-gesture-required",  # remote audio plays without a click
)
"""Flags every test browser gets."""


def fake_media_args(*, wav: str | None = None, y4m: str | None = None) -> tuple[str, ...]:
    """Flags for a fake camera and microphone that need no permission prompt; files replace the test signals."""
    args = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    if wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    if y4m is not None:
        args.append(f"--use-file-for-fake-video-capture={y4m}")
    return tuple(args)


def skip_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM}; apt-get install chromium (or set CODECAV_CHROMIUM)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright not installed; pip install -e .[test]"
    from codecav.net.web.site import STATIC_DIR

    if not (STATIC_DIR / "vendor" / "msgpack" / "index.mjs").is_file():
        return "the page's vendor files are missing; run `npm ci && python scripts/vendor_web.py` (or make)"
    return None


def require_browser() -> None:
    """Skip the calling test with a one-line reason when Chromium or Playwright is missing."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)


@contextmanager
def chromium_page(*, extra_args: Sequence[str] = ()) -> Iterator[Page]:
    """A fresh page in headless Chromium (sync API)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*BASE_ARGS, *extra_args])
        try:
            page = browser.new_page()
            yield page
        finally:
            browser.close()


@asynccontextmanager
async def async_chromium_page(*, extra_args: Sequence[str] = ()) -> AsyncIterator[AsyncPage]:
    """A fresh page in headless Chromium (async API), for tests that run aiortc on the same event loop."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[*BASE_ARGS, *extra_args])
        try:
            page = await browser.new_page()
            yield page
        finally:
            await browser.close()


@contextmanager
def served_site(site: WebSite | None = None, secret: bytes = TEST_SECRET) -> Iterator[SignalingServer]:
    """A SignalingServer serving the page (codecav.net.web.site) on 127.0.0.1, run on its own thread's event
    loop, for sync-API tests; `server.http_url` is the page."""
    import asyncio
    import threading

    from codecav.net.signaling.server import SignalingServer
    from codecav.net.web.site import WebSite as Site

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="served-site", daemon=True)
    thread.start()
    server = SignalingServer("127.0.0.1", 0, secret, site=site or Site())
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
