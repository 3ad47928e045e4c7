"""HTTP side of `codecav signal`: the browser participant's page, its ES modules and vendor files, the shipped
sample avatars, the GLSL ES shaders of `codecav.shaders.web`, and extra files the caller names (the face model),
beside the WebSocket at /ws.

Only files under the package's `static/` folder (and the named extras) are served; paths are resolved without
following `..` out of it. MIME types are fixed here (the platform's table may lack .mjs or .wasm).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiohttp import web

from codecav.net.web.constants import CONSTANTS_PATH, constants_module

STATIC_DIR = Path(str(resources.files("codecav.net.web") / "static"))
"""The page's files inside the installed package."""
SAMPLES_DIR = Path(str(resources.files("codecav.assets") / "samples"))
"""Shipped sample avatars offered on the page."""

MIME_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".glsl": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".task": "application/octet-stream",
    ".cavatar": "application/octet-stream",
    ".onnx": "application/octet-stream",
}
"""Content type by suffix; anything else is application/octet-stream."""

ISOLATION_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Cross-origin isolation: lets onnxruntime-web use SharedArrayBuffer threads (every resource is same-origin)."""

ExtraFile = Callable[[], bytes]
"""Produces the bytes of an extra file when asked (e.g. codecav.encoders.webcam.model.load_landmarker_model);
may raise a CodecavError whose one-line message becomes a 404 body."""


@dataclass(frozen=True)
class WebSiteConfig:
    """What the signaling server serves over HTTP beside /ws."""

    static_dir: Path = STATIC_DIR
    """Root of the page's files (`/` is its index.html)."""
    samples_dir: Path | None = SAMPLES_DIR
    """Sample .cavatar packages served under /samples/ (None: none)."""
    extra_files: Mapping[str, ExtraFile] = field(default_factory=dict)
    """URL path (e.g. '/models/face_landmarker.task') -> its bytes; asked on each request, so keep it cached."""
    isolation: bool = True
    """Send the cross-origin isolation headers."""


def content_type(path: str) -> str:
    """The MIME type for a file name."""
    return MIME_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def resolve_static(root: Path, url_path: str) -> Path | None:
    """The file under `root` that `url_path` names, or None (missing, a folder, or outside `root`)."""
    rel = url_path.lstrip("/") or "index.html"
    if "\\" in rel or "\0" in rel or any(part in ("", ".", "..") for part in rel.split("/")):
        return None
    root = root.resolve()
    candidate = (root / rel).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def sample_names(samples_dir: Path | None) -> list[str]:
    """Names of the shipped .cavatar samples, sorted."""
    if samples_dir is None or not samples_dir.is_dir():
        return []
    return sorted(p.name for p in samples_dir.glob("*.cavatar") if p.is_file())


class WebSite:
    """Adds the page's routes to an aiohttp Application (the signaling server's)."""

    def __init__(self, config: WebSiteConfig | None = None) -> None:
        self.config = config or WebSiteConfig()

    def add_routes(self, app: web.Application) -> None:
        """GET routes: extras, /samples/, then every static file (the index at /)."""
        for path in self.config.extra_files:
            app.router.add_get(path, self._extra_file)
        app.router.add_get(CONSTANTS_PATH, self._constants)
        app.router.add_get("/shaders/es300/{name}.json", self._shader)
        app.router.add_get("/samples/index.json", self._sample_index)
        app.router.add_get("/samples/{name}", self._sample)
        app.router.add_get("/{path:.*}", self._static)

    def _headers(self, path: str) -> dict[str, str]:
        headers = {"Content-Type": content_type(path), "Cache-Control": "no-cache"}
        if self.config.isolation:
            headers.update(ISOLATION_HEADERS)
        return headers

    async def _static(self, request: web.Request) -> web.StreamResponse:
        file = resolve_static(self.config.static_dir, request.match_info["path"])
        if file is None:
            raise web.HTTPNotFound(text=f"no such file: /{request.match_info['path']}")
        return web.FileResponse(file, headers=self._headers(file.name))

    async def _sample_index(self, request: web.Request) -> web.Response:
        body = json.dumps({"samples": sample_names(self.config.samples_dir)})
        return web.Response(body=body.encode(), headers=self._headers("index.json"))

    async def _sample(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in sample_names(self.config.samples_dir):
            raise web.HTTPNotFound(text=f"no sample avatar {name!r}")
        assert self.config.samples_dir is not None
        return web.FileResponse(self.config.samples_dir / name, headers=self._headers(name))

    async def _extra_file(self, request: web.Request) -> web.Response:
        try:
            data = self.config.extra_files[request.path]()
        except Exception as exc:  # the producer's one-line reason (e.g. a missing model and its install command)
            raise web.HTTPNotFound(text=str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        return web.Response(body=data, headers=self._headers(request.path))

    async def _constants(self, request: web.Request) -> web.Response:
        """The constants the page shares with Python (codecav.net.web.constants), never a hand-kept copy."""
        return web.Response(body=constants_module().encode(), headers=self._headers("constants.js"))

    async def _shader(self, request: web.Request) -> web.Response:
        """The GLSL ES 3.00 program of codecav/shaders (codecav.shaders.web), never a hand-kept copy."""
        from codecav.shaders.errors import ShaderSourceError
        from codecav.shaders.web import es300_program_json

        try:
            body = es300_program_json(request.match_info["name"])
        except ShaderSourceError as exc:
            raise web.HTTPNotFound(text=str(exc).splitlines()[0]) from None
        return web.Response(body=body, headers=self._headers("program.json"))
