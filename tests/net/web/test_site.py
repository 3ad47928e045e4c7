"""The signaling server's HTTP side (codecav.net.web.site): the page, MIME types, vendor files, samples, the GLSL ES
shaders, extra files, refusals of paths outside static/, and HTTPS/WSS with --tls-cert/--tls-key."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from codecav.arkit import ARKIT_52
from codecav.assets.graph_bounds import ALLOWED_OPS
from codecav.cli.call import SignalCommandError, tls_context
from codecav.net.signaling.server import SignalingServer, make_join_token
from codecav.net.web.constants import constants_module
from codecav.net.web.site import STATIC_DIR, WebSite, WebSiteConfig, resolve_static
from tests.net.web.browser import TEST_SECRET

VENDOR = STATIC_DIR / "vendor"


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes, dict[str, str]]:
    async with session.get(url) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.read(), dict(r.headers)


def test_the_page_its_modules_samples_and_shaders_are_served_with_their_types() -> None:
    site = WebSite(WebSiteConfig(extra_files={"/models/x.task": lambda: b"model",
                                              "/models/missing.task": lambda: (_ for _ in ()).throw(
                                                  FileNotFoundError("face model not installed; run: pip install x"))}))

    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, TEST_SECRET, site=site) as server, aiohttp.ClientSession() as s:
            base = server.http_url
            status, kind, body, headers = await fetch(s, base)
            assert status == 200 and kind.startswith("text/html") and b"js/app.js" in body
            assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            status, kind, _, _ = await fetch(s, base + "js/wire.js")
            assert status == 200 and kind.startswith("text/javascript")
            if (VENDOR / "onnxruntime-web").is_dir():
                status, kind, body, _ = await fetch(s, base + "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm")
                assert status == 200 and kind == "application/wasm" and body[:4] == b"\0asm"
                status, kind, _, _ = await fetch(s, base + "vendor/msgpack/index.mjs")
                assert status == 200 and kind.startswith("text/javascript")
            status, kind, body, _ = await fetch(s, base + "samples/index.json")
            assert status == 200 and "lee.cavatar" in body.decode()
            status, _, body, _ = await fetch(s, base + "samples/lee.cavatar")
            assert status == 200 and body[:2] == b"PK"
            status, kind, body, _ = await fetch(s, base + "shaders/es300/pica.json")
            assert status == 200 and kind == "application/json" and b"#version 300 es" in body
            status, kind, body, _ = await fetch(s, base + "generated/constants.js")
            assert status == 200 and kind.startswith("text/javascript") and body.decode() == constants_module()
            status, _, body, _ = await fetch(s, base + "shaders/es300/nope.json")
            assert status == 404 and b"\n" not in body.strip()
            assert (await fetch(s, base + "models/x.task"))[2] == b"model"
            status, _, body, _ = await fetch(s, base + "models/missing.task")
            assert status == 404 and body == b"face model not installed; run: pip install x"
            for bad in ("../site.py", "%2e%2e/site.py", "js/../../site.py", "samples/../avatar.json", "nope.js"):
                assert (await fetch(s, base + bad))[0] == 404, bad
            assert (await fetch(s, base + "samples/__init__.py"))[0] == 404

    asyncio.run(main())


def test_the_shared_constants_module_carries_pythons_lists() -> None:
    """The page imports ARKIT_52 and ALLOWED_OPS from this module, so it holds exactly Python's."""
    text = constants_module()
    lines = {line.split(" = ")[0].removeprefix("export const "): line for line in text.splitlines()[1:]}
    arkit = json.loads(lines["ARKIT_52"].split("Object.freeze(", 1)[1].removesuffix(");"))
    ops = json.loads(lines["ALLOWED_OPS"].split("Object.freeze(", 1)[1].removesuffix(");"))
    assert arkit == list(ARKIT_52) and ops == sorted(ALLOWED_OPS)


def test_resolve_static_stays_inside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.js").write_text("1")
    (tmp_path / "index.html").write_text("2")
    assert resolve_static(tmp_path, "/") == (tmp_path / "index.html").resolve()
    assert resolve_static(tmp_path, "a/x.js") == (tmp_path / "a" / "x.js").resolve()
    for bad in ("../etc/passwd", "a/../../x", "a//x.js", "a\\x.js", "a", "/etc/passwd\0"):
        assert resolve_static(tmp_path, bad) is None, bad


def test_tls_serves_https_and_wss(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = tls_context(str(cert), str(key))
    assert context is not None
    client_ssl = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, TEST_SECRET, site=WebSite(), ssl_context=context) as server:
            assert server.url.startswith("wss://") and server.http_url.startswith("https://")
            async with aiohttp.ClientSession() as s:
                async with s.get(server.http_url, ssl=client_ssl) as r:
                    assert r.status == 200
                token = make_join_token(TEST_SECRET, "r", "p", 60)
                async with s.ws_connect(server.url, ssl=client_ssl) as ws:
                    await ws.send_json({"type": "join", "room": "r", "peer": "p", "token": token})
                    assert (await ws.receive_json())["type"] == "joined"

    asyncio.run(main())


def test_tls_options_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(SignalCommandError, match="both --tls-cert and --tls-key"):
        tls_context(str(tmp_path / "c.pem"), None)
    with pytest.raises(SignalCommandError, match="cannot read") as info:
        tls_context(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert "\n" not in str(info.value)
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(SignalCommandError, match="not a PEM certificate") as info:
        tls_context(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert "\n" not in str(info.value)


def test_invite_links_carry_a_valid_token_and_bad_invites_fail_in_one_line() -> None:
    from urllib.parse import parse_qs, urlparse

    from codecav.cli.call import invite_url, parse_invite
    from codecav.net.signaling.join_token import verify_join_token

    room, peer = parse_invite("r1/alice")
    query = parse_qs(urlparse(invite_url("http://127.0.0.1:8765/", TEST_SECRET, room, peer)).query)
    assert query["room"] == ["r1"] and query["peer"] == ["alice"]
    verify_join_token(TEST_SECRET, query["token"][0], "r1", "alice")
    for bad in ("r1", "r1/", "/p", "r 1/p", "r/p/q"):
        with pytest.raises(SignalCommandError, match="must be ROOM/PEER"):
            parse_invite(bad)
