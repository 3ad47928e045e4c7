"""A Python participant and a browser participant in one call on loopback: what the browser's decode, render and
voice cost and how late frames are where people see them.

    .venv/bin/python benchmarks/browser.py --json --seconds 8 --size 128x128

One process runs a SignalingServer that also serves the page and the face model, a CallSession ("py": shipped
sample avatar, voice from a synthetic voiced WAV, synthetic latent source at 30 frames/s) and headless Chromium
(Debian's /usr/bin/chromium through Playwright, fake microphone, and a fake camera playing 3 s of the webcam
tests' real talking-face clip at 320x240, 25 frames/s). The page ("web") joins with the same sample, drives it
from the camera (MediaPipe FaceLandmarker in the page -> the sample's expression encoder on onnxruntime-web; the
in-page synthetic source when the clip or the face model is missing, `browser_source` says which and why), sends
its microphone, verifies py's avatar (avatar module: sha256, package checks, onnxruntime-web trial decode) and
draws py with the WebGL2 PiCA pass at --size on SwiftShader (CPU). py draws the page's newest frame with codecav's
own OnnxNeuralDecoder + PicaRenderer (EGL, --size) on a thread, latest wins.

Keys: browser_decode_ms_p50 (onnxruntime-web wasm decode per frame), browser_frame_ms_p50 (decode + upload + draw
+ readPixels finish, at --size), python_to_browser_capture_to_photon_ms_p50 (py's capture time mapped through
the page's clock sync, to the page's draw finishing; latest frame wins, no jitter buffer),
browser_voice_jitter_buffer_ms (getStats: jitterBufferDelay / jitterBufferEmittedCount of py's voice),
browser_to_python_capture_to_receive_ms_p50 (py's FrameTiming: the page's capture time mapped through codecav's
clock sync, to arrival), browser_to_python_capture_to_photon_ms_p50 (the same capture time to py's render of that
frame finishing, pixels read back; with the camera, the capture time is the camera frame's, so tracking and
encoding in the page count), browser_camera_track_ms_p50 / browser_camera_encode_ms_p50 (FaceLandmarker and the
expression encoder per camera frame in the page), browser_render_psnr_db (after the call, in a fresh page of
the same Chromium build: the page's avatar module decodes and draws the sample at --size's width, square, for a
fixed code, pose and view, against codecav's own OnnxNeuralDecoder + PicaRenderer render of the same, over head
pixels; tests/net/web/render_page.py's measure_browser_render, with its decode, frame and open times as
browser_render_decode_ms_p50, browser_render_frame_ms_p50 and browser_render_open_ms). Keys that this run
cannot measure are null with the reason in `null_reasons`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codecav.assets.package import AvatarPackage  # noqa: E402
from codecav.assets.samples import SAMPLES_DIR  # noqa: E402
from codecav.clock import MONOTONIC  # noqa: E402
from codecav.encoders.synthetic_source import SyntheticLatentSource  # noqa: E402
from codecav.latent import LatentFrame  # noqa: E402
from codecav.net.avatar_exchange import OwnAvatar  # noqa: E402
from codecav.net.call_session import CallSession  # noqa: E402
from codecav.net.call_types import CallConfig  # noqa: E402
from codecav.net.peer import PeerConfig  # noqa: E402
from codecav.net.signaling.server import SignalingServer, make_join_token  # noqa: E402
from codecav.net.voice import VoiceTrack, wav_feed  # noqa: E402
from codecav.net.web.site import WebSite, WebSiteConfig  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SECRET = b"browser-benchmark-secret-0123456789"
ROOM = "bench"
FLAGS = ["--enable-unsafe-swiftshader", "--allow-loopback-in-peer-connection",
         "--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def voiced(seconds: float) -> np.ndarray:
    """A voiced test signal (gliding pitch, second harmonic), float32 48 kHz."""
    t = np.arange(int(seconds * 48000)) / 48000
    phase = 2 * np.pi * np.cumsum(220 + 80 * np.sin(2 * np.pi * 0.7 * t)) / 48000
    return (0.3 * (np.sin(phase) + 0.3 * np.sin(2 * phase)) / 1.3).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16-bit mono 48 kHz WAV for Chromium's fake microphone."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(48000)
        f.writeframes((samples * 32767).astype("<i2").tobytes())


def p50(values: list[float]) -> float | None:
    """Median rounded to 0.01, or None without values."""
    return round(statistics.median(values), 2) if values else None


async def page_state(page: Any) -> dict[str, Any]:
    """The page's `await codecav.state()`."""
    state: dict[str, Any] = await page.evaluate("codecav.state()")
    return state


async def wait_page(page: Any, check: Any, timeout_s: float) -> dict[str, Any]:
    """Poll the page's state until `check(state)`; RuntimeError with the last state otherwise."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = await page_state(page)
        if check(state):
            return state
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the page did not get there within {timeout_s:g} s: phase {state.get('phase')!r}, "
                       f"error {state.get('error')!r}, log {state.get('log', [])[-3:]}")


class PythonView:
    """codecav's own render of the page's newest frame on a thread: OnnxNeuralDecoder + PicaRenderer on EGL at
    width x height, the head in front of a fixed camera; capture-to-photon (ms) per drawn frame, latest wins."""

    def __init__(self, package: AvatarPackage, width: int, height: int, now_us: Callable[[], int]) -> None:
        self.package, self.width, self.height, self.now_us = package, width, height, now_us
        self.latest: tuple[LatentFrame, float] | None = None
        self.capture_to_photon_ms: list[float] = []
        self.error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="python-view", daemon=True)
        self._thread.start()

    def offer(self, peer: str, frame: LatentFrame, capture_local_us: float, receive_us: int) -> None:
        """CallSession's on_frame: keep the page's newest frame."""
        if peer == "web":
            with self._lock:
                self.latest = (frame, capture_local_us)

    def _run(self) -> None:
        try:
            from codecav.camera import View, look_at, perspective, pose_matrix
            from codecav.decoders.base import AvatarDraw
            from codecav.decoders.neural import OnnxNeuralDecoder
            from codecav.decoders.pica_gl import PicaRenderer
            from codecav.runtime.scene_renderer import head_space_view_dir
            from codecav.xr.headless import HeadlessTarget

            view = View(look_at(np.array([0.0, 0.0, 0.5]), np.zeros(3)), perspective(38.0, self.width / self.height,
                                                                                    0.05, 10.0),
                        self.width, self.height)
            decoder = OnnxNeuralDecoder(self.package.decoder_onnx)
            target = HeadlessTarget([view])
            renderer = PicaRenderer(target.ctx)
            handle = renderer.add_avatar(self.package.mesh, self.package.pixel_mlp, self.package.manifest.feature_map)
        except Exception as exc:  # no EGL here: the key stays null with this reason
            self.error = f"codecav's render is unavailable here ({' '.join(str(exc).split())[:160]})"
            return
        try:
            drawn = None
            while not self._stop.wait(0.002):
                with self._lock:
                    latest = self.latest
                if latest is None or latest[0] is drawn:
                    continue
                frame, capture_local_us = latest
                # the head turned as the page's user, at the origin (the camera frames it there)
                pose = pose_matrix(np.zeros(3, np.float32), frame.head_pose.orientation).astype(np.float32)
                decoded = decoder.decode(frame.code, head_space_view_dir(pose, view.eye_position))
                renderer.update(handle, decoded)
                (eye,) = target.begin_frame()
                renderer.render(eye, [AvatarDraw(handle, pose)], background=(0.0, 0.0, 0.0))
                target.present()
                target.read_rgb()
                self.capture_to_photon_ms.append((self.now_us() - capture_local_us) / 1000)
                drawn = frame
        finally:
            renderer.release()
            target.close()
            target.ctx.release()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def camera_clip(tmp: Path) -> tuple[Path | None, str]:
    """The fake camera's .y4m (the webcam tests' talking-face clip, tagged; tests/net/web/camera_media.py), or None
    and why not."""
    try:
        from tests.encoders.webcam.media import MediaUnavailable
        from tests.net.web.camera_media import write_fake_camera
    except ImportError as exc:
        return None, f"the test helpers cannot be imported ({exc})"
    try:
        return write_fake_camera(tmp).y4m, ""
    except ImportError:
        return None, "imageio-ffmpeg is not installed"
    except MediaUnavailable as exc:
        return None, f"the talking-face clip is unavailable ({exc})"


def face_model_site() -> WebSite:
    """The page's site with the webcam extra's face model at /models/face_landmarker.task (404 with the reason
    when it is not installed)."""
    from codecav.encoders.webcam.model import load_landmarker_model

    return WebSite(WebSiteConfig(extra_files={"/models/face_landmarker.task": load_landmarker_model}))


async def run(seconds: float, size: str, avatar: str, tmp: Path, camera: bool = True) -> dict[str, Any]:
    """One call; the measured keys."""
    from playwright.async_api import async_playwright

    wav = tmp / "mic.wav"
    write_wav(wav, voiced(6.0))
    own = OwnAvatar.from_path(SAMPLES_DIR / avatar)
    y4m, camera_reason = camera_clip(tmp) if camera else (None, "--no-camera")
    video_args = [f"--use-file-for-fake-video-capture={y4m}"] if y4m is not None else []
    width, height = (int(v) for v in size.split("x"))
    async with SignalingServer("127.0.0.1", 0, SECRET, site=face_model_site()) as server, \
            async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM,
                                          args=[*FLAGS, f"--use-file-for-fake-audio-capture={wav}", *video_args])
        config = CallConfig(room=ROOM, peer_id="py", signal_url=server.url,
                            token=make_join_token(SECRET, ROOM, "py", 300), peer=PeerConfig(loopback_only=True),
                            cache_dir=tmp / "cache")
        clock = MONOTONIC
        view = PythonView(own.package, width, height, clock.now_us)
        py = CallSession(config, own, voice_track=VoiceTrack(wav_feed(voiced(6.0))), receive_voice=True,
                         clock=clock, on_frame=view.offer)
        await py.start()
        try:
            page = await browser.new_page()
            query = {"room": ROOM, "peer": "web", "token": make_join_token(SECRET, ROOM, "web", 300),
                     "avatar": avatar, "join": "1", "size": size,
                     "source": "auto" if y4m is not None else "synthetic"}
            await page.goto(f"{server.http_url}?{urlencode(query)}")
            await py.wait_for_peers(1, timeout_s=60)
            await wait_page(page, lambda s: (s.get("call") or {}).get("remotes", {}).get("py", {}).get("avatar")
                            in ("ready", "refused"), 60)
            if y4m is not None:  # the camera source replaces the synthetic one once its tracking runs
                await wait_page(page, lambda s: s.get("source") == "camera" or "start" not in s.get("sourceNote", ""),
                                60)
            track_ms: list[float] = []
            encode_ms: list[float] = []
            source = SyntheticLatentSource(own.package.manifest.latent, seed=0)
            start = py.clock.now_us()
            count = int(seconds * 30)
            for seq in range(count):
                delay_us = start + int(seq * 1e6 / 30) - py.clock.now_us()
                if delay_us > 0:
                    await asyncio.sleep(delay_us / 1e6)
                py.send(source.frame_at(seq, py.clock.now_us()))
                if seq % 10 == 0:
                    cam = (await page_state(page)).get("camera") or {}
                    if cam.get("frames"):
                        track_ms.append(cam["trackMs"])
                        encode_ms.append(cam["encodeMs"])
            await asyncio.sleep(0.5)
            state = await page_state(page)
            timings = [t for t in py.frame_timings() if t.peer == "web"]
            peer = py.stats().peers[0]
        finally:
            await py.stop()
            view.stop()
            await browser.close()
    render = state.get("render") or {}
    voice = state.get("voiceStats", {}).get("py") or {}
    remote = state["call"]["remotes"]["py"]
    reasons = {
        "browser_to_python_capture_to_photon_ms_p50": view.error or "py drew none of the page's frames",
    }
    out: dict[str, Any] = {
        "browser_decode_ms_p50": p50(render.get("decodeMs", [])),
        "browser_frame_ms_p50": p50(render.get("frameMs", [])),
        "browser_render_size": size,
        "python_to_browser_capture_to_photon_ms_p50": p50(render.get("captureToPhotonMs", [])),
        "browser_to_python_capture_to_photon_ms_p50": p50(view.capture_to_photon_ms),
        "frames_drawn_by_python": len(view.capture_to_photon_ms),
        "browser_source": state.get("source"),
        "browser_source_note": state.get("sourceNote") or camera_reason,
        "browser_camera_track_ms_p50": p50(track_ms),
        "browser_camera_encode_ms_p50": p50(encode_ms),
        "browser_to_python_capture_to_receive_ms_p50": p50([(t.receive_us - t.capture_local_us) / 1000
                                                            for t in timings]),
        "browser_voice_jitter_buffer_ms": round(voice["jitterBufferMs"], 2) if voice.get("jitterBufferMs")
        else None,
        "frames_sent_by_python": count,
        "frames_decoded_by_browser": remote["framesDecoded"],
        "frames_drawn_by_browser": render.get("frames", 0),
        "frames_sent_by_browser": state["call"]["framesSent"],
        "frames_accepted_by_python": peer.frames_accepted,
        "voice_frames_received_by_python": peer.audio_frames_received,
        "voice_packets_received_by_browser": voice.get("packetsReceived"),
        "avatar": avatar,
        "browser_avatar_state": remote["avatar"],
        "seconds": seconds,
        "null_reasons": {},
    }
    for key, reason in reasons.items():
        if out[key] is None:
            out["null_reasons"][key] = reason
    for key in ("browser_decode_ms_p50", "browser_frame_ms_p50", "python_to_browser_capture_to_photon_ms_p50",
                "browser_voice_jitter_buffer_ms"):
        if out[key] is None:
            out["null_reasons"][key] = f"no samples (page avatar module: {state.get('avatarModule')}, render errors: " \
                                       f"{render.get('lastError', '')!r})"
    return out


def render_figures(size: str, avatar: str) -> dict[str, Any]:
    """The page's render of `avatar` against codecav's own (tests/net/web/render_page.py's measure_browser_render,
    sync Playwright, so outside the call's event loop): browser_render_psnr_db and the render-only times; the PSNR
    is None with `browser_render_error` when it cannot be measured here."""
    width = int(size.split("x")[0])
    try:
        from tests.net.web.browser import chromium_page, skip_reason
        from tests.net.web.render_page import measure_browser_render, ort_missing

        reason = skip_reason() or ort_missing()
        if reason is not None:
            return {"browser_render_psnr_db": None, "browser_render_error": reason}
        with chromium_page() as page:
            measured = measure_browser_render(page, SAMPLES_DIR / avatar, size=width)
    except Exception as exc:  # no EGL for codecav's render, or the test helpers are missing
        return {"browser_render_psnr_db": None,
                "browser_render_error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    return {"browser_render_psnr_db": measured["browser_render_psnr_db"],
            "browser_render_decode_ms_p50": measured["browser_decode_ms_p50"],
            "browser_render_frame_ms_p50": measured["browser_frame_ms_p50"],
            "browser_render_open_ms": measured["browser_open_ms"],
            "browser_render_psnr_size": f"{width}x{width}"}


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long py sends frames (default 8)")
    parser.add_argument("--size", default="128x128", help="WxH the browser renders at (default 128x128)")
    parser.add_argument("--avatar", default="lee.cavatar", help="shipped sample both participants drive")
    parser.add_argument("--no-camera", action="store_true", help="the page sends its in-page synthetic frames")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"browser benchmark: no Chromium at {CHROMIUM}; apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = asyncio.run(run(args.seconds, args.size, args.avatar, Path(tmp), not args.no_camera))
        except RuntimeError as exc:
            print(f"browser benchmark: {exc}", file=sys.stderr)
            return 1
    render = render_figures(args.size, args.avatar)
    if render["browser_render_psnr_db"] is None:
        result["null_reasons"]["browser_render_psnr_db"] = render.pop("browser_render_error")
    null_reasons = result.pop("null_reasons")
    result = {"browser_render_psnr_db": render.pop("browser_render_psnr_db"), **result, **render,
              "null_reasons": null_reasons}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
