"""A hostile avatar offered by a Python participant is refused in the browser with a visible one-line reason, and
the call goes on (the browser's frames still reach codecav)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from codecav.assets.errors import AvatarFormatError
from codecav.assets.loader import load_avatar
from codecav.net.avatar_exchange import OwnAvatar, sha256_hex
from codecav.net.signaling.server import SignalingServer
from tests.assets.attacks import add_huge_loop
from tests.net.calls import SECRET, latent_received, session, small_avatar
from tests.net.loopback import until
from tests.net.test_hostile_avatar import hostile
from tests.net.web.browser import async_chromium_page
from tests.net.web.calls import page_until, page_url, site_with_test_avatar


def not_a_zip(tmp_path: Path) -> OwnAvatar:
    """Bytes that start like a zip and are not one, announced with their true sha256."""
    data = b"PK\x03\x04" + bytes(range(256)) * 40
    return OwnAvatar(small_avatar(1).package, data, sha256_hex(data))


def wrong_digest(tmp_path: Path) -> OwnAvatar:
    """A valid package whose bytes were changed in transit: the announced sha256 is the original's."""
    good = small_avatar(1)
    data = bytearray(good.data)
    data[len(data) // 2] ^= 0xFF
    return OwnAvatar(good.package, bytes(data), good.sha256)


def huge_loop(tmp_path: Path) -> OwnAvatar:
    """A decoder with a Loop of 2^62 iterations (refused by the static checks)."""
    return hostile(tmp_path, add_huge_loop)


def python_reason(tmp_path: Path, own: OwnAvatar) -> str:
    """What codecav's receiver counts for these bytes (digest first, then its static package checks)."""
    if sha256_hex(own.data) != own.sha256:
        return "hash_mismatch"
    path = tmp_path / f"{own.sha256}.cavatar"
    path.write_bytes(own.data)
    try:
        load_avatar(path)
    except AvatarFormatError as exc:
        return f"invalid_package:{exc.reason}"
    return "accepted"


@pytest.mark.parametrize("make", [not_a_zip, wrong_digest, huge_loop], ids=["not-a-zip", "wrong-digest", "huge-loop"])
def test_a_hostile_avatar_from_python_is_refused_in_the_browser(tmp_path: Path,
                                                                 make: Callable[[Path], OwnAvatar]) -> None:
    own = make(tmp_path)
    expected = python_reason(tmp_path, own)

    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET, site=site_with_test_avatar()) as server, \
                async_chromium_page() as page:
            py = session(server, "py", tmp_path, seed=1)
            py.own = own
            await py.start()
            try:
                await page.goto(page_url(server, "web"))
                state = await page_until(page, "s.call && s.call.remotes.py && s.call.remotes.py.avatar !== 'unknown'"
                                               " && s.call.remotes.py.avatar !== 'fetching'", timeout_s=30)
                if state["avatarModule"] != "loaded" and make is huge_loop:
                    pytest.skip(f"the page's avatar module did not load ({state['avatarModuleError']})")
                remote = state["call"]["remotes"]["py"]
                assert remote["avatar"] == "refused", remote
                assert list(remote["refused"]) == [expected], (remote["refused"], expected)
                shown = (await page.text_content("#refusals") or "").strip()
                assert shown == remote["refusal"] and "\n" not in shown
                assert shown.startswith(f"avatar from peer py refused ({expected}): "), shown
                # the call goes on: codecav still gets the browser's frames
                assert await until(lambda: latent_received(py, "web") >= 10, 15), py.stats()
            finally:
                await py.stop()

    asyncio.run(main())
