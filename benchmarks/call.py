"""Two-process call on loopback through the signaling server: latent bitrate, capture-to-decoded latency, and
the bitrate VP8 needs for the same rendered frames at the same PSNR.

    .venv/bin/python benchmarks/call.py --json --seconds 10

The parent starts a SignalingServer and two child processes (this file with --role sender / receiver), each a
CallSession with its own synthetic avatar and avatar cache (the receiver fetches and verifies the sender's
avatar first). The sender sends SyntheticLatentSource frames (30 frames/s, int8) for --seconds. The receiver
decodes every frame with the sender avatar's ONNX decoder on a worker thread as it arrives:
capture_to_decoded = decode finished - capture time (sender's monotonic clock mapped through clock sync), so
it includes wire encoding, SCTP/DTLS/UDP on loopback, wire decoding and the neural decode; the jitter buffer's
playout delay is reported separately. Afterwards the receiver renders the first --psnr-frames frames twice
(PiCA, headless, 640x480 as `codecav call` shows them): from the codes it received (int8 on the wire) and
from the sender's float codes (the synthetic source is deterministic, so the receiver regenerates them).
Their PSNR is the avatar path's; VP8 then encodes the float renders, bitrate bisected for the cheapest encode
reaching that PSNR: aiortc's own VP8 encoder first, then (if it never gets there) libvpx given every chance to
spend bits (`vp8_baseline.py`); if neither reaches it, VP8's closest approach gives a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import faulthandler
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codecav.assets.loader import load_avatar  # noqa: E402
from codecav.assets.package import AvatarPackage  # noqa: E402
from codecav.assets.synthetic.avatar import build_synthetic_avatar  # noqa: E402
from codecav.encoders.synthetic_source import SyntheticLatentSource  # noqa: E402
from codecav.latent import LatentFrame  # noqa: E402
from codecav.net.avatar_exchange import OwnAvatar  # noqa: E402
from codecav.net.call_session import CallSession, monotonic_us  # noqa: E402
from codecav.net.call_types import CallConfig  # noqa: E402
from codecav.net.impairment import Impairment  # noqa: E402
from codecav.net.peer import PeerConfig  # noqa: E402
from codecav.net.signaling.join_token import make_join_token  # noqa: E402
from codecav.net.signaling.server import SignalingServer  # noqa: E402
from tests.assets.makehuman import ADA  # noqa: E402

ROOM = "bench"
FPS = 30.0
SOURCE_SEED = 5
"""Seed of the sender's synthetic source (the receiver regenerates the float codes from it)."""
IP_UDP_HEADER_BYTES = 28


RECEIVER_READY = "receiver.ready"
"""File (in the shared --cache folder) the receiver creates once it has verified the sender's avatar: the
sender's counted window starts after it, so no avatar bytes are counted as latent traffic."""


def _log(role: str, text: str) -> None:
    print(f"[{role} {time.monotonic():.1f}] {text}", file=sys.stderr, flush=True)


def _config(args: argparse.Namespace, peer: str, cache: Path) -> CallConfig:
    impairment = Impairment(loss=args.loss, seed=3 if peer == "sender" else 4) if args.loss else None
    return CallConfig(room=ROOM, peer_id=peer, signal_url=args.signal,
                      token=make_join_token(bytes.fromhex(args.secret), ROOM, peer, 600),
                      peer=PeerConfig(loopback_only=True), cache_dir=cache, quant=args.quant, impairment=impairment)


def sender_package(args: argparse.Namespace) -> AvatarPackage:
    """The sender's avatar: a trained sample (--avatar) or, with --avatar synthetic, the random-weight one."""
    return build_synthetic_avatar(seed=1) if args.avatar == "synthetic" else load_avatar(args.avatar)


def clip_codes(package: AvatarPackage) -> np.ndarray | None:
    """The sender's codes for a trained sample: its expression encoder on the shipped speech clips (30 frames/s,
    looped); None for the synthetic avatar (its SyntheticLatentSource codes are used)."""
    if "encoders/expression.onnx" not in package.encoders_onnx:
        return None
    from codecav.training.wire_tables import clip_codes as codes_of_clips

    return codes_of_clips(package)


def sent_frame(source: SyntheticLatentSource, codes: np.ndarray | None, seq: int, now_us: int) -> LatentFrame:
    """Frame `seq`: the synthetic source's pose and gaze, with the clip's code when there is one."""
    frame = source.frame_at(seq, now_us)
    return frame if codes is None else dataclasses.replace(frame, code=codes[seq % len(codes)])


# -- sender ----------------------------------------------------------------------------------------------------------

async def run_sender(args: argparse.Namespace) -> dict[str, Any]:
    """Join, wait for the receiver, send frames for --seconds; the link's byte counters over that window."""
    own = OwnAvatar.from_package(sender_package(args))
    codes = clip_codes(own.package)
    call = CallSession(_config(args, "sender", Path(args.cache) / "sender"), own)
    await call.start()
    try:
        await call.wait_for_peers(1, timeout_s=60, avatars=False)
        _log("sender", "receiver connected")
        ready = Path(args.cache) / RECEIVER_READY
        deadline = time.monotonic() + 120
        while not ready.exists():  # the receiver fetched and verified our avatar (it says so in this file)...
            if time.monotonic() > deadline:
                raise SystemExit("sender: the receiver never verified our avatar")
            await asyncio.sleep(0.05)
        _log("sender", "receiver has our avatar; sending")
        link = call._remotes["receiver"].link  # benchmark introspection: the sending window's counters
        await asyncio.sleep(0.5)  # ...and its remaining control traffic settles
        datagrams0, bytes0 = link.stats.datagrams_sent, link.stats.datagram_bytes_sent
        source = SyntheticLatentSource(own.package.manifest.latent, fps=FPS, seed=SOURCE_SEED)
        count = int(args.seconds * FPS)
        start = monotonic_us()
        for seq in range(count):
            due = start + int(seq * 1e6 / FPS)
            delay = (due - monotonic_us()) / 1e6
            if delay > 0:
                await asyncio.sleep(delay)
            call.send(sent_frame(source, codes, seq, monotonic_us()))
        duration = (monotonic_us() - start) / 1e6 + 1.0 / FPS
        stats = link.stats
        result = {"frames_sent": count, "duration_s": duration, "latent_sent_bytes": stats.latent_sent_bytes,
                  "latent_dropped_congested": stats.latent_dropped_congested,
                  "datagrams": stats.datagrams_sent - datagrams0,
                  "datagram_bytes": stats.datagram_bytes_sent - bytes0}
        await asyncio.sleep(1.0)  # let the last frames arrive before leaving
        return result
    finally:
        await call.stop()


# -- receiver --------------------------------------------------------------------------------------------------------

class DecodeWorker:
    """Decodes each received frame on its own thread as it arrives; records capture-to-decoded latency."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[tuple[LatentFrame, float] | None] = queue.Queue()
        self.package: AvatarPackage | None = None
        self.latencies_ms: list[float] = []
        self.decode_ms: list[float] = []
        self.codes: dict[int, np.ndarray] = {}
        self._thread = threading.Thread(target=self._run, name="bench-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from codecav.decoders.neural import OnnxNeuralDecoder

        decoder: OnnxNeuralDecoder | None = None
        view = np.array([0.0, 0.0, 1.0], np.float32)
        while (item := self.inbox.get()) is not None:
            frame, capture_local_us = item
            if decoder is None:
                assert self.package is not None
                decoder = OnnxNeuralDecoder(self.package.decoder_onnx)
                decoder.decode(frame.code, view)  # warm-up (first run allocates)
            began = monotonic_us()
            decoder.decode(frame.code, view)
            done = monotonic_us()
            self.decode_ms.append((done - began) / 1000.0)
            self.latencies_ms.append((done - capture_local_us) / 1000.0)
            self.codes[frame.sequence] = frame.code

    def stop(self) -> None:
        self.inbox.put(None)
        self._thread.join(10)


async def run_receiver(args: argparse.Namespace) -> dict[str, Any]:
    """Join, receive and decode until the sender leaves; then the PSNR / VP8 comparison."""
    if args.wire == "v1":  # this receiver plays a v1-only peer: it does not announce latent-v2
        import codecav.net.remote_peer as remote_peer

        remote_peer.CAPABILITIES = tuple(c for c in remote_peer.CAPABILITIES if c != "latent-v2")
    own = OwnAvatar.from_package(build_synthetic_avatar(seed=2))
    worker = DecodeWorker()

    def on_frame(peer: str, frame: LatentFrame, capture_local_us: float, receive_us: int) -> None:
        worker.inbox.put((frame, capture_local_us))

    call = CallSession(_config(args, "receiver", Path(args.cache) / "receiver"), own, on_frame=on_frame)
    await call.start()
    try:
        await call.wait_for_peers(1, timeout_s=60)
        _log("receiver", "sender connected, its avatar verified")
        (Path(args.cache) / RECEIVER_READY).touch()  # the sender's sending window starts after this
        worker.package = call.ready_peers()[0][2]
        playout: list[float] = []
        deadline = time.monotonic() + args.seconds + 30
        while call.peers and time.monotonic() < deadline:
            remote = call.remote_frame("sender")
            if remote is not None:
                playout.append(remote.sample.playout_delay_us / 1000.0)
            await asyncio.sleep(1 / 90)  # sample at a 90 Hz display rate, as a renderer would
        stats = call.stats()
    finally:
        await call.stop()
    worker.stop()
    _log("receiver", f"call over: {len(worker.latencies_ms)} frames decoded; rendering the PSNR comparison")
    seen = stats.peers + stats.departed
    if not seen:
        raise SystemExit("receiver: the sender never appeared in the call stats")
    peer = seen[0]
    assert worker.package is not None
    received = sorted(worker.codes)
    gaps = [b - a for a, b in zip(received, received[1:], strict=False)]
    return {"latencies_ms": worker.latencies_ms, "decode_ms": worker.decode_ms, "frames_lost": peer.frames_lost,
            "wire_drops": dict(peer.wire_dropped),
            "longest_gap_ms": round((max(gaps, default=1) - 1) * 1000 / FPS, 1),
            "frames_accepted": peer.frames_accepted, "frames_late": peer.frames_late,
            "clock_offset_us": peer.clock_offset_us, "clock_error_bound_us": peer.clock_error_bound_us,
            "playout_delay_ms_p50": float(np.median(playout)) if playout else None,
            "avatar_fetched": stats.avatar_fetched,
            **compare_with_vp8(worker.package, worker.codes, args.psnr_frames)}


def render_call_view(package: AvatarPackage, codes: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """Each code rendered (PiCA, headless) at 640x480 as `codecav call` shows a lone remote; the RGB frames and the
    share of the view the avatar covers (in the last frame)."""
    from codecav.runtime.render_command import framing_distance
    from codecav.runtime.scene import AvatarInstance, Scene, camera_views
    from codecav.runtime.scene_renderer import SceneRenderer
    from codecav.xr.headless import HeadlessTarget

    width, height = 640, 480  # the view size of `codecav call`
    views = camera_views(width, height, eye=(0.0, 0.0, framing_distance(0.25, 35.0, width / height, 1.1)))
    target = HeadlessTarget(views)
    try:
        renderer = SceneRenderer(target.ctx)
        renderer.add_avatar("a", package)
        instance = AvatarInstance("a", np.eye(4, dtype=np.float32), np.zeros(package.manifest.latent.dim, np.float32))
        scene = Scene([instance])
        frames = []
        for code in codes:
            instance.code = code
            renderer.render(scene, target.begin_frame())
            target.present()
            frames.append(target.read_rgb(0))
        covered = float(np.mean(target.read_depth(0) < 1.0))
        renderer.release()
    finally:
        target.close()
    return frames, covered


def compare_with_vp8(package: AvatarPackage, received: dict[int, np.ndarray], count: int) -> dict[str, Any]:
    """Render received vs float codes, their PSNR, and the VP8 bitrate reaching that PSNR on the float renders."""
    from vp8_baseline import best_trial, psnr, search_bitrate

    source = SyntheticLatentSource(package.manifest.latent, fps=FPS, seed=SOURCE_SEED)
    codes = clip_codes(package)
    sequences = sorted(received)[:count]
    frames, covered = render_call_view(package, [sent_frame(source, codes, s, 0).code for s in sequences]
                                       + [received[s] for s in sequences])
    reference, avatar = frames[:len(sequences)], frames[len(sequences):]
    avatar_psnr = psnr(reference, avatar)
    search = search_bitrate(reference, FPS, avatar_psnr)
    return {"psnr_frames": len(sequences), "avatar_psnr_db": avatar_psnr, "covered_fraction": covered,
            "vp8_reached_psnr": search.reached, "vp8_kbps_equal_psnr": search.best.kbps,
            "vp8_psnr_db": search.best.psnr_db, "vp8_settings": search.best.settings,
            "vp8_aiortc_best": dataclasses.asdict(best_trial([t for t in search.trials if t.settings == "aiortc"],
                                                             avatar_psnr)),
            "vp8_trials": [[t.settings, round(t.target_kbps, 1), round(t.kbps, 1), round(t.psnr_db, 2)]
                           for t in search.trials]}


# -- the unordered-channel delay experiment (aiortc issues #547, #1086) ---------------------------------------------

async def channel_case(rate: float, seconds: float, size: int, loss: float, jitter_ms: float,
                       max_buffered: int) -> dict[str, Any]:
    """One PeerLink pair in this process: `rate` messages/s of `size` bytes on the latent channel with loss and
    jitter (user-space impairment, both directions); one-way delay from a timestamp in each message."""
    import struct

    from codecav.net.impairment import Impairment, impair
    from codecav.net.peer import PeerLink

    config = PeerConfig(loopback_only=True, latent_max_buffered_bytes=max_buffered)
    delays: list[float] = []

    def on_latent(data: bytes | str) -> None:
        if isinstance(data, bytes):
            delays.append((time.perf_counter() - struct.unpack_from("<d", data)[0]) * 1000.0)

    a = PeerLink("b", config, on_latent=lambda d: None, on_control=lambda d: None)
    b = PeerLink("a", config, on_latent=on_latent, on_control=lambda d: None)
    try:
        await a.accept_answer(await b.accept_offer(await a.create_offer()))
        await a.wait_open()
        await b.wait_open()
        if loss or jitter_ms:
            for link in (a, b):
                impair(link, Impairment(loss=loss, delay_ms=jitter_ms, jitter_ms=jitter_ms, seed=1))
        count = int(rate * seconds)
        start = time.perf_counter()
        for i in range(count):
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            a.send_latent(struct.pack("<d", time.perf_counter()) + bytes(size - 8))
        await asyncio.sleep(1.0)
        sctp: Any = a.pc.sctp
        quarter = max(1, len(delays) // 4)
        return {"rate": rate, "size": size, "loss": loss, "jitter_ms": jitter_ms,
                "max_buffered": max_buffered, "sent": count, "received": len(delays),
                "dropped_at_sender": a.stats.latent_dropped_congested,
                "delay_ms_p50": round(percentile(delays, 50), 1), "delay_ms_p99": round(percentile(delays, 99), 1),
                "first_quarter_p50": round(float(np.median(delays[:quarter])), 1) if delays else None,
                "last_quarter_p50": round(float(np.median(delays[-quarter:])), 1) if delays else None,
                "sctp_queue_left": len(sctp._data_channel_queue), "sctp_cwnd": sctp._cwnd}
    finally:
        await a.close()
        await b.close()


CHANNEL_CASES = [
    # rate/s, seconds, bytes, loss, jitter ms, max buffered (huge = latest-wins off)
    (30, 10, 360, 0.0, 0, 10**9),
    (1000, 5, 360, 0.0, 0, 10**9),
    (30, 10, 360, 0.2, 30, 10**9),
    (1000, 6, 360, 0.2, 30, 10**9),
    (1000, 6, 360, 0.2, 30, 2048),
    (90, 10, 3000, 0.2, 30, 10**9),
    (90, 10, 3000, 0.2, 30, 2048),
]


def run_channel_experiment() -> list[dict[str, Any]]:
    """Every CHANNEL_CASES case, one after the other."""
    return [asyncio.run(channel_case(*case)) for case in CHANNEL_CASES]


# -- bits per frame by field (no network) ------------------------------------------------------------------------------

def field_bits(args: argparse.Namespace, frames: int = 300) -> dict[str, Any]:
    """Mean bits per frame by field of v1 (int8) and v2 for the sender's frames (the same frames a run sends)."""
    import msgpack

    from codecav.net.wire.frames import encode_latent_frame
    from codecav.net.wire.frames_v2 import FieldBits, LatentStreamEncoder

    package = sender_package(args)
    codes = clip_codes(package)
    layout = package.manifest.latent
    source = SyntheticLatentSource(layout, fps=FPS, seed=SOURCE_SEED)
    start_us = 10**12
    sent = [sent_frame(source, codes, seq, start_us + int(seq * 1e6 / FPS)) for seq in range(frames)]
    v1: dict[str, float] = {}
    for frame in sent:
        data = encode_latent_frame(frame, layout)
        fields = msgpack.unpackb(data)
        sizes = {key: len(msgpack.packb({key: value}, use_bin_type=True)) - 1 for key, value in fields.items()}
        sizes["map header"] = len(data) - sum(sizes.values())
        for key, size in sizes.items():
            v1[key] = v1.get(key, 0.0) + 8 * size / frames
    out: dict[str, Any] = {"frames": frames, "v1_int8_bits": {k: round(v, 1) for k, v in v1.items()},
                           "v1_total_bits": round(sum(v1.values()), 1)}
    if package.quant_table is not None:
        encoder = LatentStreamEncoder(layout, package.quant_table)
        total = FieldBits()
        keys = 0
        for frame in sent:
            data = encoder.encode(frame)
            keys += data[1] & 1
            for name in ("header", "sequence_time", "code", "pose", "gaze", "padding"):
                setattr(total, name, getattr(total, name) + getattr(encoder.last_bits, name))
        out["v2_bits"] = {name: round(getattr(total, name) / frames, 1)
                          for name in ("header", "sequence_time", "code", "pose", "gaze", "padding")}
        out["v2_total_bits"] = round(total.total / frames, 1)
        out["v2_key_frames"] = keys
    return out


# -- parent ----------------------------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_parent(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_hex(32)
    loop = asyncio.new_event_loop()
    server = SignalingServer("127.0.0.1", 0, bytes.fromhex(secret))
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory(prefix="codecav-bench-") as tmp:
        procs = {}
        for role in ("receiver", "sender"):
            cmd = [sys.executable, __file__, "--role", role, "--signal", server.url, "--secret", secret,
                   "--seconds", str(args.seconds), "--cache", tmp, "--quant", args.quant, "--wire", args.wire,
                   "--avatar", args.avatar, "--loss", str(args.loss),
                   "--psnr-frames", str(args.psnr_frames), "--result", os.path.join(tmp, f"{role}.json")]
            procs[role] = subprocess.Popen(cmd)
            time.sleep(0.5)
        for role, proc in procs.items():
            if proc.wait(timeout=args.seconds + 180) != 0:
                raise SystemExit(f"benchmark {role} failed (exit {proc.returncode})")
        sender = json.loads(Path(tmp, "sender.json").read_text())
        receiver = json.loads(Path(tmp, "receiver.json").read_text())
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    duration = sender["duration_s"]
    payload_kbps = sender["latent_sent_bytes"] * 8 / 1000 / duration
    wire_kbps = (sender["datagram_bytes"] + IP_UDP_HEADER_BYTES * sender["datagrams"]) * 8 / 1000 / duration
    lat = receiver["latencies_ms"]
    aiortc_best = receiver["vp8_aiortc_best"]
    return {
        "latent_payload_kbps": round(payload_kbps, 2),
        "latent_wire_kbps": round(wire_kbps, 2),
        "vp8_kbps_equal_psnr": round(receiver["vp8_kbps_equal_psnr"], 1),
        "vp8_reached_psnr": receiver["vp8_reached_psnr"],
        "bitrate_ratio_vp8_over_latent": round(receiver["vp8_kbps_equal_psnr"] / wire_kbps, 2),
        # VP8 never reaching the avatar path's PSNR makes its closest approach's bitrate, and so the ratio, a lower
        # bound: VP8 needs more than that bitrate (at any bitrate it stays below the avatar path's PSNR)
        "bitrate_ratio_is_lower_bound": not receiver["vp8_reached_psnr"],
        # which VP8 settings gave `vp8_kbps_equal_psnr`: 'aiortc' (aiortc's Vp8Encoder as a video call sends) or
        # 'free' (libvpx with the denoiser off and the quantizer free; vp8_baseline.py)
        "vp8_settings": receiver["vp8_settings"],
        # aiortc's own VP8 settings alone: their closest approach (or cheapest reaching encode) and its ratio
        "vp8_aiortc_kbps": round(aiortc_best["kbps"], 1),
        "vp8_aiortc_psnr_db": round(aiortc_best["psnr_db"], 2),
        "bitrate_ratio_vp8_aiortc_over_latent": round(aiortc_best["kbps"] / wire_kbps, 2),
        "capture_to_decoded_ms_p50": round(percentile(lat, 50), 2),
        "capture_to_decoded_ms_p99": round(percentile(lat, 99), 2),
        "frames_lost": receiver["frames_lost"],
        "frames_sent": sender["frames_sent"],
        "frames_decoded": len(lat),
        "neural_decode_ms_p50": round(percentile(receiver["decode_ms"], 50), 2),
        "playout_delay_ms_p50": receiver["playout_delay_ms_p50"],
        "avatar_psnr_db": round(receiver["avatar_psnr_db"], 2),
        "vp8_psnr_db": round(receiver["vp8_psnr_db"], 2),
        "vp8_trials_target_kbps_kbps_psnr": receiver["vp8_trials"],
        "psnr_frames": receiver["psnr_frames"],
        "covered_fraction": round(receiver["covered_fraction"], 3),
        "clock_offset_us": receiver["clock_offset_us"],
        "clock_error_bound_us": receiver["clock_error_bound_us"],
        "latent_dropped_congested": sender["latent_dropped_congested"],
        "quant": args.quant,
        "wire": args.wire,
        "avatar": Path(args.avatar).name,
        "loss": args.loss,
        "latent_bytes_per_frame": round(sender["latent_sent_bytes"] / max(sender["frames_sent"], 1), 1),
        # every datagram the sender sent in the window: its latent frames, its pings and pongs, and SCTP's
        # acknowledgements of what the receiver sent (aiortc acknowledges every packet at once)
        "sender_datagrams_per_s": round(sender["datagrams"] / duration, 1),
        # under loss: the longest run of capture time with no decodable frame (a lost v2 key frame costs its
        # interval), and drops by reason ('no_reference': v2 deltas whose key frame was lost)
        "longest_gap_ms": receiver["longest_gap_ms"],
        "wire_drops": receiver["wire_drops"],
        "seconds": args.seconds,
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quant", default="int8", choices=["int8", "fp16"])
    parser.add_argument("--wire", default="v2", choices=["v1", "v2", "both"],
                        help="v1: the receiver does not announce latent-v2; both: a v1 run, then a v2 run")
    parser.add_argument("--avatar", default=str(ADA),
                        help="the sender's avatar package (default: the MakeHuman fixture ada, which every recorded "
                             "figure used), or 'synthetic' (random weights, synthetic codes)")
    parser.add_argument("--loss", type=float, default=0.0, help="datagram loss both ways (user-space impairment)")
    parser.add_argument("--psnr-frames", type=int, default=150, help="frames rendered for the PSNR/VP8 comparison")
    parser.add_argument("--field-bits", action="store_true",
                        help="instead: mean bits per frame by field, v1 and v2, of the frames a run sends")
    parser.add_argument("--channel-experiment", action="store_true",
                        help="instead: latent-channel delay vs rate, size, loss and latest-wins (in-process)")
    parser.add_argument("--role", choices=["sender", "receiver"], help=argparse.SUPPRESS)
    parser.add_argument("--signal", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role is not None:
        # watchdog: a hung child prints every thread's stack and exits instead of stalling the parent
        faulthandler.dump_traceback_later(args.seconds + 120, exit=True)
        runner = run_sender if args.role == "sender" else run_receiver
        Path(args.result).write_text(json.dumps(asyncio.run(runner(args))))
        return
    if args.field_bits:
        print(json.dumps(field_bits(args)))
        return
    if args.channel_experiment:
        for row in run_channel_experiment():
            print(json.dumps(row), flush=True)
        return
    runs = ["v1", "v2"] if args.wire == "both" else [args.wire]
    for wire in runs:
        result = run_parent(argparse.Namespace(**{**vars(args), "wire": wire}))
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            for key, value in result.items():
                print(f"{key}: {value}")


if __name__ == "__main__":
    main()
