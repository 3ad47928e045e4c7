"""PeerLink over real aiortc on loopback: channel options, delivery, latest-wins sending under impairment."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from codecav.net.impairment import Impairment, impair
from codecav.net.peer import PeerConfig, PeerLink, quiet_aiortc_teardown
from tests.net.loopback import connect_pair, until

CONFIG = PeerConfig(loopback_only=True)


def test_channels_open_with_their_options_and_carry_messages() -> None:
    async def main() -> None:
        got_latent: list[bytes | str] = []
        got_control: list[bytes | str] = []
        a = PeerLink("b", CONFIG, on_latent=lambda d: None, on_control=lambda d: None)
        b = PeerLink("a", CONFIG, on_latent=got_latent.append, on_control=got_control.append)
        try:
            await connect_pair(a, b)
            assert a.latent.ordered is False and a.latent.maxRetransmits == 0
            assert b.latent.ordered is False and b.latent.maxRetransmits == 0
            assert a.control.ordered is True and a.control.maxRetransmits is None
            for i in range(20):
                assert a.send_latent(bytes([i]) * 300)
                a.send_control(b"c%d" % i)
                await asyncio.sleep(0.002)  # frames come at a frame rate; a burst would trip latest-wins
            await until(lambda: len(got_latent) == 20 and len(got_control) == 20, 2)
            assert sorted(got_latent) == sorted(bytes([i]) * 300 for i in range(20))
            assert got_control == [b"c%d" % i for i in range(20)]  # reliable and in order
            assert a.stats.latent_sent == 20 and b.stats.latent_received == 20
            assert a.stats.datagram_bytes_sent > 20 * 300 and a.stats.datagrams_sent >= 20
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_a_failing_handler_is_counted_and_the_link_goes_on() -> None:
    async def main() -> None:
        got: list[bytes | str] = []

        def handler(data: bytes | str) -> None:
            if data == b"boom":
                raise RuntimeError("handler bug")
            got.append(data)

        a = PeerLink("b", CONFIG, on_latent=lambda d: None, on_control=lambda d: None)
        b = PeerLink("a", CONFIG, on_latent=lambda d: None, on_control=handler)
        try:
            await connect_pair(a, b)
            a.send_control(b"boom")
            a.send_control(b"after")
            await until(lambda: bool(got), 2)
            assert got == [b"after"]
            assert b.stats.errors == ["RuntimeError: handler bug"]
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_latest_wins_bounds_the_queue_when_sctp_congestion_control_holds_frames_back() -> None:
    """1,000 frames/s into a link with 20% loss exceeds what SCTP's congestion window lets out: without the
    sender-side drop the channel's queue (and delay) grows without bound (aiortc issue #547)."""

    async def main() -> None:
        config = PeerConfig(loopback_only=True, latent_max_buffered_bytes=2048)
        a = PeerLink("b", config, on_latent=lambda d: None, on_control=lambda d: None)
        b = PeerLink("a", config, on_latent=lambda d: None, on_control=lambda d: None)
        try:
            await connect_pair(a, b)
            impairment = Impairment(loss=0.2, delay_ms=30, jitter_ms=30, seed=1)
            dropped_a = impair(a, impairment)
            impair(b, impairment)
            peak = 0
            for _ in range(150):
                for _ in range(10):
                    a.send_latent(b"x" * 360)
                peak = max(peak, a.latent.bufferedAmount)
                await asyncio.sleep(0.01)
            assert dropped_a.dropped > 0
            assert a.stats.latent_dropped_congested > 0
            assert peak <= 2048 + 360
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


class RTCSctpTransport:
    """Stands in for aiortc's class only to give the coroutine its qualified name."""

    async def _data_channel_flush(self) -> None:
        raise ConnectionError("Cannot send encrypted data, not connected")


def test_a_data_channel_send_failing_as_its_connection_closes_prints_no_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        quiet_aiortc_teardown(loop)
        quiet_aiortc_teardown(loop)  # once per loop
        asyncio.ensure_future(RTCSctpTransport()._data_channel_flush())  # aiortc's fire-and-forget flush

        async def other() -> None:
            raise ConnectionError("something else")

        asyncio.ensure_future(other())
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
        gc.collect()  # unretrieved exceptions are reported when their tasks are collected
    unretrieved = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    assert len(unretrieved) == 1 and "other()" in unretrieved[0], unretrieved  # only the unrelated task's
    assert any("data channel send failed" in r.getMessage() for r in caplog.records)
