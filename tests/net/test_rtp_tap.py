"""The adapter over aiortc's audio receiver (codecav.net.rtp_tap) on a real loopback call, its version pin, and the
Opus fmtp negotiated in offer and answer."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import numpy as np
import pytest

from codecav.clock import FakeClock
from codecav.net import rtp_tap
from codecav.net.opus_codec import OpusVoiceDecoder
from codecav.net.peer import PeerConfig, PeerLink
from codecav.net.rtp_tap import TESTED_AIORTC, AiortcAdapterError, SilentJitterBuffer, check_receiver
from codecav.net.voice import FRAME_SAMPLES, SAMPLE_RATE, VoiceTrack, wav_feed
from codecav.net.voice_playout import VoicePacket
from tests.net.loopback import connect_pair, until

CONFIG = PeerConfig(loopback_only=True)


def tone(seconds: float = 1.0, hz: float = 330.0) -> np.ndarray:
    """A loud tone (never silent, so DTX sends every frame)."""
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE)).astype(np.float32)


def fmtp_of_opus(sdp: str) -> dict[str, str]:
    """The fmtp parameters of the Opus payload type of an SDP."""
    payload_type = re.search(r"a=rtpmap:(\d+) opus/48000/2", sdp)
    assert payload_type is not None, sdp
    line = re.search(rf"a=fmtp:{payload_type.group(1)} (\S+)", sdp)
    assert line is not None, "no fmtp line for Opus"
    return dict(item.split("=", 1) for item in line.group(1).split(";"))


def test_packets_are_taken_before_aiortcs_jitter_buffer_which_decodes_nothing() -> None:
    async def main() -> None:
        got: list[VoicePacket] = []
        a = PeerLink("b", CONFIG, on_latent=lambda d: None, on_control=lambda d: None,
                     audio_track=VoiceTrack(wav_feed(tone())))
        b = PeerLink("a", CONFIG, on_latent=lambda d: None, on_control=lambda d: None, receive_audio=True,
                     on_audio_packet=got.append, decode_audio=False)
        try:
            await connect_pair(a, b)
            assert await until(lambda: len(got) >= 40, 10)
            tap = b.audio_tap
            assert tap is not None and tap.packets >= len(got) >= 40
            receiver: Any = tap.receiver
            assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, SilentJitterBuffer)
            # Every 20 ms frame in order: sequence +1, RTP time +960, arrival on the call's (real) clock.
            window = got[:40]
            assert [(p.sequence - window[0].sequence) % 2**16 for p in window] == list(range(40))
            pairs = list(zip(window, window[1:], strict=False))
            assert {(q.rtp_timestamp - p.rtp_timestamp) % 2**32 for p, q in pairs} == {FRAME_SAMPLES}
            assert all(q.arrival_ns >= p.arrival_ns for p, q in pairs)
            assert OpusVoiceDecoder().decode(window[5].payload).size == FRAME_SAMPLES
            # aiortc decoded nothing and queued nothing; its RTCP statistics still count every packet.
            assert receiver.track._queue.qsize() == 0
            stats = await receiver.getStats()
            inbound = next(s for s in stats.values() if s.type == "inbound-rtp")
            assert inbound.packetsReceived == tap.packets
            assert not b.stats.errors
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_the_baseline_keeps_aiortc_decoding_while_packets_are_tapped() -> None:
    async def main() -> None:
        got: list[VoicePacket] = []
        frames: list[Any] = []

        async def consume(track: Any) -> None:
            while True:
                frames.append(await track.recv())

        a = PeerLink("b", CONFIG, on_latent=lambda d: None, on_control=lambda d: None,
                     audio_track=VoiceTrack(wav_feed(tone())))
        b = PeerLink("a", CONFIG, on_latent=lambda d: None, on_control=lambda d: None, receive_audio=True,
                     on_audio_packet=got.append, on_audio_track=consume)
        try:
            await connect_pair(a, b)
            assert await until(lambda: len(frames) >= 10, 10)
            assert len(got) >= len(frames)  # aiortc's buffer holds packets back; the tap sees them first
            tap = b.audio_tap
            assert tap is not None and tap.decoded_origin() is not None
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_a_failing_packet_handler_is_counted_and_arrivals_use_the_given_clock() -> None:
    async def main() -> None:
        clock = FakeClock(7_000_000_000)
        seen: list[int] = []

        def handler(packet: VoicePacket) -> None:
            seen.append(packet.arrival_ns)
            raise RuntimeError("handler bug")

        a = PeerLink("b", CONFIG, on_latent=lambda d: None, on_control=lambda d: None,
                     audio_track=VoiceTrack(wav_feed(tone())))
        b = PeerLink("a", CONFIG, on_latent=lambda d: None, on_control=lambda d: None, receive_audio=True,
                     on_audio_packet=handler, decode_audio=False, clock=clock)
        try:
            await connect_pair(a, b)
            assert await until(lambda: len(b.stats.errors) >= 3, 10)
            assert set(b.stats.errors) == {"RuntimeError: handler bug"}
            assert set(seen) == {7_000_000_000}
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


class _OldReceiver:
    """A receiver of an aiortc that renamed its jitter buffer."""

    _handle_rtp_packet = None
    _enabled = True
    _RTCRtpReceiver__codecs: dict[int, Any] = {}
    _RTCRtpReceiver__timestamp_mapper = None


def test_an_aiortc_without_the_private_attributes_fails_in_one_line_naming_the_tested_version(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtp_tap.aiortc, "__version__", "9.9.9")
    with pytest.raises(AiortcAdapterError) as caught:
        check_receiver(_OldReceiver())
    message = str(caught.value)
    assert "\n" not in message and "aiortc 9.9.9" in message and "_RTCRtpReceiver__jitter_buffer" in message
    assert TESTED_AIORTC[0] in message and "voice_path='aiortc'" in message


def test_offer_and_answer_negotiate_opus_with_fec_dtx_and_mono() -> None:
    async def main() -> None:
        a = PeerLink("b", CONFIG, on_latent=lambda d: None, on_control=lambda d: None,
                     audio_track=VoiceTrack(wav_feed(tone())), receive_audio=True)
        b = PeerLink("a", CONFIG, on_latent=lambda d: None, on_control=lambda d: None,
                     audio_track=VoiceTrack(wav_feed(tone())), receive_audio=True)
        try:
            offer = await a.create_offer()
            answer = await b.accept_offer(offer)
            await a.accept_answer(answer)
            for sdp in (offer, answer):
                fmtp = fmtp_of_opus(sdp)
                assert (fmtp["useinbandfec"], fmtp["usedtx"], fmtp["stereo"]) == ("1", "1", "0"), fmtp
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())
