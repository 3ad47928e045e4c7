"""Calls through a real Janus started by the test, in a network namespace (Janus's ICE ignores loopback
interfaces; see codecav.net.sfu.janus_server). Skips with the reason when janus or namespaces are unavailable."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codecav.net.call_types import CallConfig
from codecav.net.sfu.janus_server import JanusError, JanusNamespace, janus_binary
from codecav.net.sfu.room_pin import sfu_room_pin
from codecav.net.sfu.session import SfuCallSession, control_envelope, open_envelope
from tests.net.calls import small_avatar

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def namespace() -> Iterator[JanusNamespace]:
    """A namespace with 127.0.0.2 on a veth, or a skip naming what is missing."""
    if janus_binary() is None:
        pytest.skip("janus is not installed (apt-get install janus; it is in the Makefile's APT_PACKAGES)")
    ns = JanusNamespace()
    try:
        ns.create()
    except JanusError as exc:
        pytest.skip(f"cannot make a network namespace for Janus: {exc}")
    try:
        yield ns
    finally:
        ns.delete()


def sfu_call(ns: JanusNamespace, *args: str) -> dict[str, Any]:
    """Run tests.net.sfu.sfu_call inside the namespace; its JSON report."""
    done = subprocess.run([*ns.prefix, sys.executable, "-m", "tests.net.sfu.sfu_call", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_three_peers_with_voice_through_janus(namespace: JanusNamespace) -> None:
    """Three participants in a room locked by a PIN (as `codecav call --sfu --secret-file` makes it); someone with
    a wrong PIN or none is refused in one line."""
    report = sfu_call(namespace, "--peers", "3", "--seconds", "3", "--voice", "--pin", sfu_room_pin("s" * 32, "r"))
    assert report["janus_up_s"] < 5
    for who, refusal in report["refused"].items():
        assert refusal and "\n" not in refusal, (who, refusal)
    assert "pin" in report["refused"]["wrong pin"].lower(), report["refused"]
    for me, view in report["peers"].items():
        others = {p for p in report["peers"] if p != me}
        assert set(view["seen"]) == others and view["frames_shown"] == 2
        assert view["avatar_feeds_open"] == []  # avatar feeds are left once the avatars are in
        for peer, seen in view["seen"].items():
            assert seen["avatar"] == "ready"  # fetched through Janus and verified
            assert seen["frames"] >= 80, (me, peer, seen)  # 90 sent
            assert abs(seen["clock_offset_us"]) < 5_000
            # the join timed through Janus
            assert seen["join_steps"] == ["announced_us", "signaling_us", "ice_connected_us", "dtls_connected_us",
                                          "channels_open_us", "avatar_fetched_us", "avatar_verified_us"]
            if peer == "p0":
                assert seen["voice_frames"] > 50  # p0 speaks (50 Opus frames/s)


def test_envelopes_address_control_messages() -> None:
    assert open_envelope(b"L" + b"frame", "bob") == ("latent", b"frame")
    assert open_envelope(control_envelope("bob", b"ping"), "bob") == ("control", b"ping")
    assert open_envelope(control_envelope("carol", b"ping"), "bob") is None
    assert open_envelope(b"", "bob") is None and open_envelope("text", "bob") is None
    assert open_envelope(b"X123", "bob") is None and open_envelope(b"C", "bob") is None


class _RefusingHandle:
    """A Janus handle that refuses every request (a stand-in: a real Janus refusing a subscription mid-call, e.g.
    for a feed that unpublished between its event and our join, cannot be provoked on cue)."""

    def __init__(self) -> None:
        self.detached = 0

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> Any:
        raise JanusError(f"Janus refused {body.get('request')}: no such feed (426)")

    async def detach(self) -> None:
        self.detached += 1


def test_a_refused_subscription_is_one_line_tried_again_with_backoff_while_the_feed_stays(
        caplog: pytest.LogCaptureFixture) -> None:
    handle = _RefusingHandle()

    class Janus:
        async def attach(self) -> _RefusingHandle:
            return handle

    async def main() -> None:
        call = SfuCallSession(CallConfig(room="r", peer_id="alice", signal_url="http://127.0.0.1:1/janus",
                                         token=""), small_avatar(1))
        call._janus, call._publisher = Janus(), object()  # type: ignore[assignment]
        with caplog.at_level(logging.WARNING):
            call._subscribe_later("4242", "bob")
            while call.subscribe_failures < 2:  # bob publishes once: a refusal must not leave it unseen
                await asyncio.sleep(0.01)
            del call._feeds["bob"]  # as the event loop does when bob's feed unpublishes: no further try
            while call._subscribing:
                await asyncio.sleep(0.01)
        assert call.subscribe_failures == 2 and "bob" not in call._remotes
        assert handle.detached == 2  # each half-made subscription closed
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2 and all("subscription to bob failed" in line and "no such feed" in line
                                       for line in lines)
        assert "trying again in 0.5 s" in lines[0] and "trying again in 1.0 s" in lines[1]  # backoff doubles

    asyncio.run(main())


def test_a_failed_avatar_feed_subscription_is_forgotten_and_tried_again_with_backoff(
        caplog: pytest.LogCaptureFixture) -> None:
    class Subscription:  # stands in for an AvatarSubscription whose start() Janus refused
        closed = 0

        async def close(self) -> None:
            Subscription.closed += 1

    async def main() -> None:
        call = SfuCallSession(CallConfig(room="r", peer_id="alice", signal_url="http://127.0.0.1:1/janus",
                                         token=""), small_avatar(1))
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                failed = Subscription()
                call._avatar_subscriptions["bob"] = failed  # type: ignore[assignment]
                await call._forget_avatar_subscription("bob", failed)()  # type: ignore[arg-type]
                assert "bob" not in call._avatar_subscriptions  # _keep_avatar_feeds may subscribe afresh
        assert Subscription.closed == 2
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["subscribing to bob's avatar feed again in 0.5 s",
                         "subscribing to bob's avatar feed again in 1.0 s"]  # the wait doubles

    asyncio.run(main())
