"""The page in an immersive-vr WebXR session: headless Chromium offers none, so the native WebXR API is removed
before the page loads and webxr-polyfill (vendored, DPDB_URL null: it fetches nothing) emulates a headset whose
pose the test sets. The "Enter VR" button shows only once immersive-vr is supported; in the session every XR frame
draws the Python participant's avatar in both views, and the frames codecav receives from the page carry the
headset's head pose relative to where the session began, as codecav.xr.seated computes it."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np

from codecav.latent import LatentFrame
from codecav.net.signaling.server import SignalingServer
from codecav.xr.seated import Origin, heading, quat_multiply, relative_head_pose
from tests.net.calls import SECRET, send_frames, session
from tests.net.loopback import until
from tests.net.web.browser import async_chromium_page
from tests.net.web.calls import page_until, page_url, site_with_test_avatar

REMOVE_NATIVE_XR_JS = """
delete Navigator.prototype.xr;
for (const name of Object.getOwnPropertyNames(window)) if (/^XR[A-Z]/.test(name)) delete window[name];
delete WebGLRenderingContext.prototype.makeXRCompatible;
delete WebGL2RenderingContext.prototype.makeXRCompatible;
"""
"""Init script: no native WebXR (Chromium's offers inline only, and its makeXRCompatible never settles without a
device), so the polyfill stands in for all of it."""

INSTALL_POLYFILL_JS = """async () => {
  const {default: WebXRPolyfill} = await import("/vendor/webxr-polyfill/webxr-polyfill.module.js");
  new WebXRPolyfill({allowCardboardOnDesktop: true, cardboardConfig: {DPDB_URL: null}});
  const priv = Object.getOwnPropertySymbols(navigator.xr).map((k) => navigator.xr[k]).find((v) => v && v.devicePromise);
  const device = await priv.devicePromise;
  window.__xrPose = {position: [0, 0, 0], orientation: [0, 0, 0, 1]};
  device.display._getPose = () => ({position: window.__xrPose.position.slice(),
    orientation: window.__xrPose.orientation.slice(), linearVelocity: null, linearAcceleration: null,
    angularVelocity: null, angularAcceleration: null});
  return codecav.checkXr();
}"""
"""Installs webxr-polyfill with a settable emulated head pose; the page's XR support check again."""


def quat(yaw: float, pitch: float = 0.0) -> list[float]:
    """(x, y, z, w) of a turn by `yaw` about +y, then a nod by `pitch` about the turned x axis."""
    qy = np.array([0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2)])
    qx = np.array([math.sin(pitch / 2), 0.0, 0.0, math.cos(pitch / 2)])
    return [float(v) for v in quat_multiply(qy, qx)]


POSE_START = {"position": [0.05, 0.1, -0.02], "orientation": quat(0.2)}
"""Where the emulated headset is when the session begins (the seated origin)."""
POSE_TURNED = {"position": [0.09, 0.13, -0.07], "orientation": quat(0.55, 0.12)}
"""Where it is afterwards: turned left 0.35 rad from the start, nodding, moved."""


def test_browser_enters_vr_draws_both_views_and_sends_the_headset_pose(tmp_path: Path) -> None:
    received: list[LatentFrame] = []

    def on_frame(peer: str, frame: LatentFrame, capture_local_us: float, receive_us: int) -> None:
        if peer == "web":
            received.append(frame)

    async def main() -> None:
        async with SignalingServer("127.0.0.1", 0, SECRET, site=site_with_test_avatar()) as server, \
                async_chromium_page() as page:
            await page.set_viewport_size({"width": 320, "height": 160})  # the emulated headset's views: small
            await page.add_init_script(REMOVE_NATIVE_XR_JS)
            py = session(server, "py", tmp_path, seed=1, on_frame=on_frame)
            await py.start()
            sender = None
            try:
                await page.goto(page_url(server, "web", source="synthetic"))
                state = await page_until(page, "s.phase === 'in call'")
                assert state["xr"]["supported"] is False
                assert await page.is_hidden("#xr"), "no immersive-vr here yet: the button stays hidden"
                await py.wait_for_peers(1, timeout_s=30)
                sender = asyncio.create_task(send_frames(py, 30 * 60))
                await page_until(page, "s.call.remotes.py && s.call.remotes.py.avatar === 'ready' && s.render "
                                       "&& s.render.frames >= 1", timeout_s=30)

                assert await page.evaluate(INSTALL_POLYFILL_JS) is True
                await page.evaluate("(pose) => { window.__xrPose = pose; }", POSE_START)
                await page.wait_for_selector("#xr:not([hidden]):not([disabled])", timeout=10_000)
                assert await page.text_content("#xr") == "Enter VR"
                await page.click("#xr")
                state = await page_until(page, "s.xr.active && s.xr.stats.frames >= 3 && s.xr.stats.decodes >= 2",
                                         timeout_s=30)
                assert await page.text_content("#xr") == "Exit VR"
                stats = state["xr"]["stats"]
                assert stats["views"] == 2 and stats["errors"] == 0, stats
                assert abs(stats["seat"]["yaw"] - heading(np.array(POSE_START["orientation"]))) < 1e-6

                # every XR frame draws both eyes; the avatar is in each, seen from a different place
                await page.evaluate("() => { codecav.page.xr.probeNext = true; }")
                state = await page_until(page, "s.xr.stats.probe !== null", timeout_s=20)
                left, right = state["xr"]["stats"]["probe"]
                assert left["viewport"] != right["viewport"]
                assert left["covered"] > 50 and right["covered"] > 50, (left, right)
                assert abs(left["meanX"] - right["meanX"]) > 0.002, (left, right)
                print(f"XR views: {left} {right}")
                frames_before = state["xr"]["stats"]["frames"]
                state = await page_until(page, f"s.xr.stats.frames >= {frames_before + 3}", timeout_s=20)
                assert state["xr"]["stats"]["viewsDrawn"] >= 2 * state["xr"]["stats"]["frames"] - 1

                # the headset turns: the page's sent head pose follows, as codecav.xr.seated computes it
                await page.evaluate("(pose) => { window.__xrPose = pose; }", POSE_TURNED)
                state = await page_until(
                    page, f"s.xr.stats.viewer && Math.abs(s.xr.stats.viewer.orientation[1] - "
                          f"{POSE_TURNED['orientation'][1]}) < 1e-6", timeout_s=20)
                stats = state["xr"]["stats"]
                seat = Origin(np.array(stats["seat"]["position"], np.float32), stats["seat"]["yaw"])
                expected = relative_head_pose(seat, np.array(stats["viewer"]["position"]),
                                              np.array(stats["viewer"]["orientation"]))
                np.testing.assert_allclose(stats["viewer"]["orientation"], POSE_TURNED["orientation"], atol=1e-6)
                np.testing.assert_allclose(stats["head"]["position"], expected.position, atol=1e-5)
                np.testing.assert_allclose(stats["head"]["orientation"], expected.orientation, atol=1e-5)
                # turned left 0.35 rad from where the session began: the head pose turns left, in head space
                yaw = 2 * math.atan2(expected.orientation[1], expected.orientation[3])
                print(f"headset {stats['viewer']} -> sent head pose {stats['head']} (yaw {yaw:.3f} rad)")
                assert abs(yaw - 0.35) < 0.05, yaw

                def carries_headset_pose() -> bool:
                    if not received:
                        return False
                    head = received[-1].head_pose
                    return bool(np.allclose(head.position, expected.position, atol=1e-4)
                                and np.allclose(head.orientation, expected.orientation, atol=1e-4))

                assert await until(carries_headset_pose, 20), received[-1] if received else "no frames"
                count = len(received)
                assert await until(lambda: len(received) >= count + 10, 20)
                assert all(np.allclose(f.head_pose.orientation, expected.orientation, atol=1e-4)
                           for f in received[count:]), "frames sent in VR carry the headset's pose"

                # leaving VR (the emulated headset covers the page, as a real one does: the button's handler is
                # called): the page canvas draws again and the page's own source's pose is sent again
                drawn = state["render"]["frames"]
                await page.evaluate("codecav.toggleXr()")
                state = await page_until(page, f"!s.xr.active && s.render.frames > {drawn}", timeout_s=30)
                assert await page.text_content("#xr") == "Enter VR"
                count = len(received)
                assert await until(lambda: len(received) >= count + 10, 20)
                assert not np.allclose(received[-1].head_pose.orientation, expected.orientation, atol=1e-3)
            finally:
                if sender is not None:
                    sender.cancel()
                await py.stop()

    asyncio.run(main())
