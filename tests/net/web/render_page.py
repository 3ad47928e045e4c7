"""The browser's avatar path (codecav/net/web/static/avatar) next to codecav's own: a small HTTP server for the
modules, onnxruntime-web and the ES 3.00 shaders, calls into the page that open, decode and draw an avatar
(or report its refusal), and codecav's Python render of the same code, pose and view to compare against.

`measure_browser_render()` gives the figures the browser benchmark reports (PSNR, decode and frame ms)."""

from __future__ import annotations

import base64
import hashlib
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codecav.assets.loader import load_avatar
from codecav.camera import View, look_at, perspective, rotation_y, translation
from codecav.net.web.constants import CONSTANTS_PATH, constants_module
from codecav.shaders.errors import ShaderSourceError
from codecav.shaders.web import es300_program_json

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[3]
"""The repository root."""
STATIC = ROOT / "codecav" / "net" / "web" / "static"
"""The page's static files; avatar/ holds the modules under test."""
ORT_DIST = ROOT / "node_modules" / "onnxruntime-web" / "dist"
"""onnxruntime-web as npm installed it (the Makefile's vendor copy, static/vendor/, is preferred when present)."""
XR_DIST = ROOT / "node_modules" / "webxr-polyfill" / "build"
"""webxr-polyfill as npm installed it (the stereo test's emulated immersive-vr session)."""
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
"""What the page loads from onnxruntime-web."""
ADA = ROOT / "tests" / "assets" / "makehuman" / "ada.cavatar"
"""The light test avatar (tests/assets/makehuman) the browser tests open and render by default."""
LEE = ROOT / "codecav" / "assets" / "samples" / "lee.cavatar"
"""The shipped sample `codecav demo` casts first."""

_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
          ".json": "application/json", ".html": "text/html"}


def ort_missing() -> str | None:
    """Why onnxruntime-web cannot be served, or None."""
    for name in ORT_FILES:
        if not (STATIC / "vendor" / "onnxruntime-web" / name).exists() and not (ORT_DIST / name).exists():
            return f"onnxruntime-web's {name} is missing; run `npm ci` in the repository root (make venv)"
    return None


class AvatarSite:
    """A loopback HTTP server: /static/avatar/*, /static/vendor/onnxruntime-web/*, /shaders/es300/NAME.json, the
    shared constants module (/generated/constants.js), /files/NAME (bytes given to `add_file`) and / (an empty
    page)."""

    def __init__(self) -> None:
        """Start serving on 127.0.0.1 at a free port (a daemon thread)."""
        self.files: dict[str, bytes] = {}
        """Name -> bytes served at /files/NAME."""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                status, body, kind = site.answer(self.path.split("?", 1)[0])
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="avatar-site", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        """Base URL, no trailing slash."""

    def add_file(self, name: str, data: bytes) -> str:
        """Serve `data` at /files/NAME; its absolute URL."""
        self.files[name] = data
        return f"{self.url}/files/{name}"

    def answer(self, path: str) -> tuple[int, bytes, str]:
        """(status, body, content type) of GET `path`."""
        if path == "/":
            return 200, b"<!doctype html><title>codecav avatar test</title><body></body>", "text/html"
        if path.startswith("/files/") and path[7:] in self.files:
            return 200, self.files[path[7:]], "application/octet-stream"
        if path == CONSTANTS_PATH:
            return 200, constants_module().encode(), "text/javascript"
        if path.startswith("/shaders/es300/") and path.endswith(".json"):
            try:
                return 200, es300_program_json(path[len("/shaders/es300/"):-5]), "application/json"
            except ShaderSourceError as exc:
                return 404, str(exc).encode(), "text/plain"
        for prefix, folders in (("/static/vendor/onnxruntime-web/", (STATIC / "vendor" / "onnxruntime-web", ORT_DIST)),
                                ("/static/vendor/webxr-polyfill/", (STATIC / "vendor" / "webxr-polyfill", XR_DIST)),
                                ("/static/avatar/", (STATIC / "avatar",))):
            name = path[len(prefix):]
            if path.startswith(prefix) and "/" not in name and not name.startswith("."):
                for folder in folders:
                    if (folder / name).is_file():
                        return 200, (folder / name).read_bytes(), _TYPES.get(Path(name).suffix, "text/plain")
        return 404, b"not found", "text/plain"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def avatar_site() -> Iterator[AvatarSite]:
    """An AvatarSite for the duration of the block."""
    site = AvatarSite()
    try:
        yield site
    finally:
        site.close()


@dataclass(frozen=True)
class RenderCase:
    """What both sides render: a latent code, a head pose and a camera."""

    code: np.ndarray
    """float32 [D] latent code."""
    pose: np.ndarray
    """float32 [4, 4] head -> world."""
    view: View
    """Camera (row-major matrices, as codecav's View)."""


def default_case(dim: int, size: int = 128, seed: int = 16) -> RenderCase:
    """A three-quarter view of a head turned a little, with a random expression code of `dim` entries."""
    code = (np.random.default_rng(seed).normal(0.0, 0.5, dim)).astype(np.float32)
    pose = translation(0.01, -0.02, 0.0) @ rotation_y(0.3)
    view = View(look_at(np.array([0.12, 0.04, 0.5]), np.array([0.0, -0.03, 0.0])), perspective(38.0, 1.0, 0.05, 10.0),
                size, size)
    return RenderCase(code, pose.astype(np.float32), view)


def _column_major(m: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(m, np.float32).T.ravel()]


_OPEN_JS = """
async ({url, sha, source}) => {
  const A = await import("/static/avatar/avatar.js");
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  try {
    const avatar = await A.openAvatar(bytes, sha, {source, decoder: false});
    return {ok: true, avatar_id: avatar.manifest.avatar_id};
  } catch (err) {
    if (!(err instanceof A.AvatarRefused)) throw err;
    return {ok: false, reason: err.reason, message: err.message};
  }
}
"""

_RENDER_JS = """
async ({url, sha, source, code, pose, view, projection, size, repeats}) => {
  const A = await import("/static/avatar/avatar.js");
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  let t0 = performance.now();
  const avatar = await A.openAvatar(bytes, sha, {source});
  const openMs = performance.now() - t0;
  const canvas = document.createElement("canvas");
  canvas.width = size; canvas.height = size;
  document.body.appendChild(canvas);
  const gl = canvas.getContext("webgl2", {antialias: false, preserveDrawingBuffer: true, alpha: false});
  const renderer = A.createRenderer(gl);
  const handle = await renderer.addAvatar(avatar);
  const camera = {view: Float32Array.from(view), projection: Float32Array.from(projection),
                  viewport: [0, 0, size, size], framebuffer: null};
  const poseM = Float32Array.from(pose);
  const viewDir = A.headSpaceViewDir(poseM, A.eyePosition(camera.view));
  const latent = Float32Array.from(code);
  const decodeMs = [], frameMs = [];
  const probe = new Uint8Array(4);
  let frame = null;
  for (let i = 0; i < repeats; i++) {
    frame = await avatar.decode(latent, viewDir);
    decodeMs.push(frame.ms);
    t0 = performance.now();
    renderer.update(handle, frame);
    renderer.draw([{handle, pose: poseM}], camera);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, probe);  // waits for the frame
    frameMs.push(performance.now() - t0);
  }
  const pixels = new Uint8Array(size * size * 4);
  gl.readPixels(0, 0, size, size, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
  let binary = "";
  for (let i = 0; i < pixels.length; i += 8192) binary += String.fromCharCode(...pixels.subarray(i, i + 8192));
  const info = {renderer: gl.getParameter(gl.RENDERER), floatLinear: renderer.floatLinear};
  renderer.release();
  await avatar.release();
  return {pixels: btoa(binary), decodeMs, frameMs, openMs, viewDir, info};
}
"""


_STEREO_JS = """
async ({url, sha, code}) => {
  // Headless Chromium offers no immersive-vr: remove the native WebXR API so the polyfill emulates a headset.
  delete Navigator.prototype.xr;
  for (const name of Object.getOwnPropertyNames(window)) if (/^XR[A-Z]/.test(name)) delete window[name];
  const {default: WebXRPolyfill} = await import("/static/vendor/webxr-polyfill/webxr-polyfill.module.js");
  new WebXRPolyfill({allowCardboardOnDesktop: true, cardboardConfig: {DPDB_URL: null}});
  const A = await import("/static/avatar/avatar.js");
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const avatar = await A.openAvatar(bytes, sha, {source: "ada.cavatar"});
  const canvas = document.createElement("canvas");
  canvas.width = 256; canvas.height = 128;
  document.body.appendChild(canvas);
  const gl = canvas.getContext("webgl2", {antialias: false, xrCompatible: true});
  const supported = await navigator.xr.isSessionSupported("immersive-vr");
  const session = await navigator.xr.requestSession("immersive-vr");
  session.updateRenderState({baseLayer: new XRWebGLLayer(session, gl, {antialias: false})});
  const space = await session.requestReferenceSpace("local");
  const renderer = A.createRenderer(gl);
  const handle = await renderer.addAvatar(avatar);
  const c = Math.cos(Math.PI), s = Math.sin(Math.PI);
  const pose = Float32Array.from([c, 0, -s, 0, 0, 1, 0, 0, s, 0, c, 0, 0, 0, -0.45, 1]);
  const layer = session.renderState.baseLayer;
  let cams = await new Promise((resolve) => session.requestAnimationFrame(
    (t, frame) => resolve(A.xrCameras(frame.getViewerPose(space), layer))));
  const decoded = await avatar.decode(Float32Array.from(code), A.headSpaceViewDir(pose, A.meanEye(cams)));
  renderer.update(handle, decoded);
  const result = await new Promise((resolve) => session.requestAnimationFrame((t, frame) => {
    cams = A.xrCameras(frame.getViewerPose(space), layer);
    cams.forEach((cam, i) => renderer.draw([{handle, pose}], cam, {clear: i === 0}));
    const counts = cams.map((cam) => {
      const [x, y, w, h] = cam.viewport;
      const px = new Uint8Array(w * h * 4);
      gl.bindFramebuffer(gl.FRAMEBUFFER, cam.framebuffer);
      gl.readPixels(x, y, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
      let n = 0, sx = 0;
      for (let i = 0; i < w * h; i++) if (px[4 * i] || px[4 * i + 1] || px[4 * i + 2]) { n++; sx += i % w; }
      return {covered: n, meanX: n ? sx / n / w : null};
    });
    resolve({supported, views: cams.length, viewports: cams.map((c) => c.viewport), counts,
             eyes: cams.map((c) => A.eyePosition(c.view))});
  }));
  await session.end();
  return result;
}
"""


def render_stereo_in_browser(page: Page, site: AvatarSite, path: Path, code: np.ndarray) -> dict[str, Any]:
    """One frame of an emulated immersive-vr session (webxr-polyfill, the native navigator.xr removed): the avatar
    0.45 m in front of the viewer, drawn per XRView by the same draw(); per view its viewport, covered pixels and
    the covered pixels' mean x (a fraction of the view's width), and the eye positions."""
    data = path.read_bytes()
    url = site.add_file(path.name, data)
    page.goto(site.url + "/")
    result: dict[str, Any] = page.evaluate(_STEREO_JS, {
        "url": url, "sha": hashlib.sha256(data).hexdigest(), "code": [float(x) for x in code]})
    return result


@dataclass(frozen=True)
class BrowserRender:
    """What the page drew and how long it took."""

    rgb: np.ndarray
    """uint8 [H, W, 3], top row first."""
    decode_ms: list[float]
    """onnxruntime-web session.run per frame."""
    frame_ms: list[float]
    """Upload, both passes and the wait for them per frame."""
    open_ms: float
    """openAvatar: verification, session creation and the trial decode."""
    view_dir: tuple[float, float, float]
    """The view direction the page fed its decoder."""
    info: dict[str, Any]
    """WebGL renderer string and whether RGBA32F filters linearly."""


def open_in_browser(page: Page, site: AvatarSite, data: bytes, sha: str | None, source: str) -> dict[str, Any]:
    """openAvatar (verification only) on `data` in the page: {ok, avatar_id} or {ok: False, reason, message}."""
    name = hashlib.sha256(data).hexdigest()[:16] + ".cavatar"
    url = site.add_file(name, data)
    page.goto(site.url + "/")
    result: dict[str, Any] = page.evaluate(_OPEN_JS, {"url": url, "sha": sha, "source": source})
    return result


def render_in_browser(page: Page, site: AvatarSite, path: Path, case: RenderCase, repeats: int = 1) -> BrowserRender:
    """Open, decode and draw the package at `path` in the page `repeats` times; the last frame's pixels."""
    data = path.read_bytes()
    url = site.add_file(path.name, data)
    page.goto(site.url + "/")
    out = page.evaluate(_RENDER_JS, {
        "url": url, "sha": hashlib.sha256(data).hexdigest(), "source": path.name, "code": [float(x) for x in case.code],
        "pose": _column_major(case.pose), "view": _column_major(case.view.view_matrix),
        "projection": _column_major(case.view.projection), "size": case.view.width, "repeats": repeats})
    size = case.view.width
    rgba = np.frombuffer(base64.b64decode(out["pixels"]), np.uint8).reshape(size, size, 4)
    return BrowserRender(np.ascontiguousarray(rgba[::-1, :, :3]), out["decodeMs"], out["frameMs"], out["openMs"],
                         tuple(out["viewDir"]), out["info"])


def render_in_python(path: Path, case: RenderCase) -> tuple[np.ndarray, np.ndarray]:
    """codecav's own render (OnnxNeuralDecoder + PicaRenderer on EGL): uint8 [H, W, 3] and the covered mask [H, W]."""
    from codecav.decoders.base import AvatarDraw
    from codecav.decoders.neural import OnnxNeuralDecoder
    from codecav.decoders.pica_gl import PicaRenderer
    from codecav.runtime.scene_renderer import head_space_view_dir
    from codecav.xr.headless import HeadlessTarget

    package = load_avatar(path)
    frame = OnnxNeuralDecoder(package.decoder_onnx).decode(
        case.code, head_space_view_dir(case.pose, case.view.eye_position))
    target = HeadlessTarget([case.view])
    renderer = PicaRenderer(target.ctx)
    try:
        handle = renderer.add_avatar(package.mesh, package.pixel_mlp, package.manifest.feature_map)
        renderer.update(handle, frame)
        (eye,) = target.begin_frame()
        renderer.render(eye, [AvatarDraw(handle, case.pose)], background=(0.0, 0.0, 0.0))
        target.present()
        return target.read_rgb(), target.read_depth() < 1.0
    finally:
        renderer.release()
        target.close()
        target.ctx.release()


def head_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255) of two uint8 images over the head pixels `mask` (codecav.training.metrics.psnr)."""
    from codecav.training.metrics import psnr

    return psnr(a, b, mask)


def measure_browser_render(page: Page, path: Path = ADA, size: int = 128, repeats: int = 20) -> dict[str, float]:
    """The browser's render of `path` against codecav's: browser_render_psnr_db over head pixels (covered in
    codecav's render or non-black in the browser's), browser_decode_ms_p50, browser_frame_ms_p50 (at size x size),
    browser_open_ms (verify + session + trial decode)."""
    case = default_case(load_avatar(path).manifest.latent.dim, size)
    with avatar_site() as site:
        browser = render_in_browser(page, site, path, case, repeats)
    reference, covered = render_in_python(path, case)
    mask = covered | np.any(browser.rgb > 0, axis=2)
    return {
        "browser_render_psnr_db": round(head_psnr(browser.rgb, reference, mask), 2),
        "browser_decode_ms_p50": round(statistics.median(browser.decode_ms), 2),
        "browser_frame_ms_p50": round(statistics.median(browser.frame_ms), 2),
        "browser_open_ms": round(browser.open_ms, 1),
        "browser_render_size": float(size),
    }
