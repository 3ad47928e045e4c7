"""The browser participant driven by a camera: Chromium's fake camera plays a real talking-face clip (tagged with
frame indices, tests/net/web/camera_media.py); the page tracks it with MediaPipe's FaceLandmarker (tasks-vision
wasm), runs the webcam driver's per-frame work and the shipped avatar's expression encoder (onnxruntime-web) and
sends the codes to a Python CallSession through a real SignalingServer. Checked against codecav's own Python path:
the same frames give the same blendshapes and face transform as codecav's FaceLandmarker, and the codes codecav
receives are its own ExpressionEncoder's output for the weights the page reports, varying with the face."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.encoders.expression import ExpressionEncoder
from codecav.latent import LatentFrame
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.signaling.server import SignalingServer, make_join_token
from codecav.net.web.site import WebSite, WebSiteConfig
from tests.assets.makehuman import ADA, MAKEHUMAN_DIR
from tests.net.calls import ROOM, SECRET, session
from tests.net.loopback import until
from tests.net.web.browser import async_chromium_page, fake_media_args, require_browser
from tests.net.web.calls import page_until
from tests.net.web.camera_media import TAG_BITS, TAG_ROWS, FakeCamera, fake_camera

JAW = ARKIT_INDEX["jawOpen"]

READ_TAG_JS = f"""() => {{
  codecav.page.camera.onCanvas = (ctx, w, h) => {{
    const block = Math.floor(w / {TAG_BITS});
    const row = ctx.getImageData(0, h - {TAG_ROWS // 2}, w, 1).data;
    let tag = 0;
    for (let bit = 0; bit < {TAG_BITS}; bit++) {{
      const x = bit * block + (block >> 1);
      const luma = (row[4 * x] + row[4 * x + 1] + row[4 * x + 2]) / 3;
      tag = (tag << 1) | (luma > 127 ? 1 : 0);
    }}
    return tag;
  }};
}}"""
"""Installs the page-side reader of camera_media.read_tag on the camera source."""
SOURCE_LINE_JS = "(start) => document.getElementById('source').textContent.startsWith(start)"
"""True once the page's visible `own frames:` line starts with the argument."""


@pytest.fixture(scope="module")
def landmarker_model() -> bytes:
    from codecav.encoders.webcam.landmarker import WebcamExtraError, import_mediapipe
    from codecav.encoders.webcam.model import LandmarkerModelError, load_landmarker_model

    try:
        import_mediapipe()
        return load_landmarker_model()
    except (WebcamExtraError, LandmarkerModelError) as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory, landmarker_model: bytes) -> FakeCamera:
    require_browser()
    return fake_camera(tmp_path_factory.mktemp("camera"))


def python_observations(camera: FakeCamera, model: bytes) -> list[Any]:
    """codecav's FaceLandmarker (VIDEO mode) on every frame of the clip in order; None where no face."""
    from codecav.encoders.webcam.landmarker import FaceLandmarker

    with FaceLandmarker(model=model) as landmarker:
        return [landmarker.detect(frame, i / camera.fps) for i, frame in enumerate(camera.frames)]


def test_camera_drives_the_expression_encoder_as_codecav_does(tmp_path: Path, camera: FakeCamera,
                                                              landmarker_model: bytes) -> None:
    received: dict[int, LatentFrame] = {}

    def on_frame(peer: str, frame: LatentFrame, capture_local_us: float, receive_us: int) -> None:
        if peer == "web":
            received[frame.sequence] = frame

    # The clip's frames with the mouth most open and most closed (codecav's landmarker): codecav must receive codes
    # of both before the codes can be said to move with the face. Under load the page processes fewer camera frames
    # per pass of the looping clip, so how many passes that takes depends on the machine, not a fixed count.
    observations = python_observations(camera, landmarker_model)
    jaw = np.array([o.blendshapes[JAW] if o is not None else np.nan for o in observations])
    low, high = np.nanpercentile(jaw, 25), np.nanpercentile(jaw, 75)
    open_tags, closed_tags = set(np.flatnonzero(jaw >= high).tolist()), set(np.flatnonzero(jaw <= low).tolist())

    def received_tags(history: list[dict[str, Any]]) -> set[int]:
        return {r["tag"] for r in history if r["sequence"] in received and r["tag"] is not None}

    site = WebSite(WebSiteConfig(extra_files={"/models/face_landmarker.task": lambda: landmarker_model},
                                samples_dir=MAKEHUMAN_DIR))  # the light test avatar ada
    query = {"room": ROOM, "peer": "web", "token": make_join_token(SECRET, ROOM, "web", 120),
             "avatar": "ada.cavatar", "source": "camera", "join": "1", "size": "32x32"}

    async def main() -> list[dict[str, Any]]:
        async with SignalingServer("127.0.0.1", 0, SECRET, site=site) as server, \
                async_chromium_page(extra_args=fake_media_args(y4m=str(camera.y4m))) as page:
            py = session(server, "py", tmp_path, seed=1, on_frame=on_frame)
            await py.start()
            try:
                await page.goto(f"{server.http_url}?{urlencode(query)}")
                state = await page_until(page, "s.source === 'camera' || s.sourceNote.includes('cannot')", 60)
                assert state["source"] == "camera", state["sourceNote"]
                assert state["camera"]["width"] == camera.size[0] and state["camera"]["height"] == camera.size[1]
                await page.wait_for_function(SOURCE_LINE_JS, arg="own frames: camera (FaceLandmarker 320x240 -> ",
                                             timeout=10_000)
                await page.evaluate(READ_TAG_JS)
                # a whole pass of the looping clip, tagged, and codecav holding the page's avatar and frames
                count = len(camera.frames)
                await page_until(page, f"s.camera.frames >= {count + 20}", 60)
                assert await until(lambda: len(received) >= 30, 30), py.stats()
                history: list[dict[str, Any]] = await page.evaluate("codecav.cameraHistory(600)")
                for _ in range(60):  # up to a minute more, for the page to send an open and a closed mouth
                    tags = received_tags(history)
                    if tags & open_tags and tags & closed_tags:
                        break
                    await asyncio.sleep(1.0)
                    history = await page.evaluate("codecav.cameraHistory(600)")
                return history
            finally:
                await py.stop()

    history = asyncio.run(main())
    tagged = [r for r in history if r["tag"] is not None and r["raw"] is not None]
    assert len({r["tag"] for r in tagged}) >= len(camera.frames) // 2, [r["tag"] for r in tagged]
    assert all(0 <= r["tag"] < len(camera.frames) for r in tagged)

    # 1. the browser's FaceLandmarker sees what codecav's does in the same frames
    pairs = [(r, observations[r["tag"]]) for r in tagged if observations[r["tag"]] is not None]
    assert len(pairs) >= len(tagged) - 2
    web_raw = np.array([r["raw"] for r, _ in pairs], np.float32)
    py_raw = np.stack([o.blendshapes for _, o in pairs])
    assert np.ptp(py_raw[:, JAW]) > 0.3  # the clip talks
    jaw_r = float(np.corrcoef(web_raw[:, JAW], py_raw[:, JAW])[0, 1])
    assert jaw_r > 0.97, (jaw_r, web_raw[:, JAW].round(2), py_raw[:, JAW].round(2))
    assert float(np.abs(web_raw - py_raw).mean()) < 0.01
    web_t = np.array([r["transform"] for r, _ in pairs], np.float32).reshape(-1, 4, 4)
    py_t = np.stack([o.transform for _, o in pairs])
    assert float(np.abs(web_t[:, :3, 3] - py_t[:, :3, 3]).max()) < 2.0  # cm: the same layout, the same head
    assert float(np.abs(web_t[:, :3, :3] - py_t[:, :3, :3]).max()) < 0.05

    # 2. the codes codecav received are its own expression encoder's for the weights the page fed it
    encoder = ExpressionEncoder.from_package(OwnAvatar.from_path(ADA).package)
    by_sequence = {r["sequence"]: r for r in history}
    matched = [(by_sequence[s], f) for s, f in sorted(received.items()) if s in by_sequence]
    assert len(matched) >= 30, (len(matched), len(received))
    weights = np.array([r["weights"] for r, _ in matched], np.float32)
    got = np.stack([f.code for _, f in matched])
    want = encoder.encode(weights)
    step = np.abs(want).max(axis=1, keepdims=True) / 127  # int8 on the wire: half a segment's step at most
    assert np.all(np.abs(got - want) <= 0.51 * step), float((np.abs(got - want) / step).max())
    page_codes = np.array([r["code"] for r, _ in matched], np.float32)
    assert float(np.abs(page_codes - want).max()) < 1e-4  # onnxruntime-web == onnxruntime
    # ... moving with the face (codes of an open and a closed mouth arrived), with its pose and gaze. The page's
    # weights are calibrated to the face's rest (its resting opening subtracted) and smoothed: on this clip their
    # jawOpen peaks near 0.2 (0.197 in one run under load), so half of that is the bar, not 0.2 itself.
    tags = received_tags(history)
    assert tags & open_tags and tags & closed_tags, (sorted(tags), float(low), float(high))
    assert np.ptp(weights[:, JAW]) > 0.1 and float(got.std(axis=0).mean()) > 0.05 * float(np.abs(got).mean())
    for record, frame in matched:
        assert frame.flags == record["flags"] == 0
        np.testing.assert_allclose(frame.head_pose.orientation, record["orientation"], atol=1e-6)
        assert frame.gaze is not None


def test_without_the_face_model_the_page_says_why_and_sends_synthetic_frames(camera: FakeCamera) -> None:
    query = {"room": ROOM, "peer": "web", "token": make_join_token(SECRET, ROOM, "web", 120),
             "avatar": "ada.cavatar", "join": "1", "size": "32x32"}

    async def main() -> None:
        site = WebSite(WebSiteConfig(samples_dir=MAKEHUMAN_DIR))
        async with SignalingServer("127.0.0.1", 0, SECRET, site=site) as server, \
                async_chromium_page(extra_args=fake_media_args(y4m=str(camera.y4m))) as page:
            await page.goto(f"{server.http_url}?{urlencode(query)}")
            state = await page_until(page, "s.sourceNote.includes('cannot start')", 60)
            assert state["source"] == "synthetic" and state["camera"] is None
            await page.wait_for_function(SOURCE_LINE_JS, arg="own frames: synthetic (camera tracking cannot start "
                                         "(the face model is not served (/models/face_landmarker.task: HTTP 404",
                                         timeout=10_000)
            assert "\n" not in (await page.text_content("#source") or "")
            sent = state["call"]["framesSent"]
            await page_until(page, f"s.call.framesSent >= {sent + 10}")

    asyncio.run(main())
