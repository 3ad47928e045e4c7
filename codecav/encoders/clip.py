"""Recorded driving clips (headset cameras + microphone + eye gaze) and their replay as sources.

A clip is a directory:
    clip.json        {"format": 1, "identity", "name", "fps", "frames", "hmc_size", "views", "text", "command"}
    hmc.zip          frames as grayscale JPEGs <frame:06d>.jpg, the three views side by side [S, 3S]
    audio.wav        16 kHz mono speech of the same time span
    gaze.npy         float32 [frames, 2, 3] left/right gaze directions in head space
    expressions.npy  float32 [frames, 52] the ARKit weights that made the frames (ground truth, optional)
Frame i is captured at i / fps seconds; the audio starts at 0."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.encoders.audio.driver import WavSource
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.errors import ClipError, one_line
from codecav.encoders.fusion import FusionPolicy, fuse
from codecav.encoders.gaze import GazeTrackSource
from codecav.encoders.hmc import HMC_VIEWS, HmcEncoder, HmcFrame, HmcSource, shipped_hmc_model

CLIP_FORMAT = 1
"""Version of the clip layout."""


def shipped_clip(identity: int) -> Path:
    """Directory of the shipped clip of studio identity `identity` (may not exist)."""
    return Path(str(resources.files("codecav.assets") / "clips" / str(identity)))


@dataclass(frozen=True)
class Clip:
    """A loaded clip (HMC frames stay compressed until iterated)."""

    path: Path
    """The clip directory."""
    identity: int
    """Studio identity shown in the HMC frames."""
    fps: float
    """HMC frames per second."""
    frames: int
    """Number of HMC frames."""
    hmc_size: int
    """Side of each HMC view in pixels."""
    text: str
    """What is said in the audio."""
    gaze: np.ndarray
    """float32 [frames, 2, 3] gaze directions."""
    expressions: np.ndarray | None
    """float32 [frames, 52] ground-truth ARKit weights, if recorded."""

    @property
    def audio_path(self) -> Path:
        """The clip's WAV file."""
        return self.path / "audio.wav"

    def hmc_frames(self, start_time_us: int = 0) -> Iterator[HmcFrame]:
        """Decode the HMC frames in order."""
        with zipfile.ZipFile(self.path / "hmc.zip") as archive:
            for i in range(self.frames):
                strip = np.asarray(Image.open(io.BytesIO(archive.read(f"{i:06d}.jpg"))).convert("L"))
                views = strip.reshape(self.hmc_size, len(HMC_VIEWS), self.hmc_size).transpose(1, 0, 2)
                yield HmcFrame(start_time_us + int(round(i * 1e6 / self.fps)), np.ascontiguousarray(views))

    def sources(self, hmc_model: bytes | Path | str | None = None, audio_model: bytes | Path | str | None = None,
                threads: int = 1) -> dict[str, ExpressionSource]:
        """{'hmc', 'audio', 'gaze'} sources replaying the clip offline (times from 0), for
        ExpressionLatentSource. `hmc_model` defaults to the shipped model of the clip's identity."""
        encoder = HmcEncoder(shipped_hmc_model(self.identity) if hmc_model is None else hmc_model, threads)
        return {"hmc": HmcSource(self.hmc_frames(), encoder),
                "audio": WavSource(self.audio_path, audio_model, threads=threads),
                "gaze": GazeTrackSource(self.gaze, self.fps)}


def load_clip(path: Path | str) -> Clip:
    """Read clip.json and the small arrays; ClipError (one line, with the fix) if anything is missing."""
    p = Path(path)
    fix = "re-record it with `codecav driver record-clip`"
    for name in ("clip.json", "hmc.zip", "audio.wav", "gaze.npy"):
        if not (p / name).is_file():
            raise ClipError(f"clip {p} has no {name}; {fix}")
    try:
        meta = json.loads((p / "clip.json").read_text())
        if meta.get("format") != CLIP_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, this codecav reads {CLIP_FORMAT}")
        gaze = np.load(p / "gaze.npy", allow_pickle=False).astype(np.float32)
        expr_path = p / "expressions.npy"
        expressions = np.load(expr_path, allow_pickle=False).astype(np.float32) if expr_path.is_file() else None
        clip = Clip(p, int(meta["identity"]), float(meta["fps"]), int(meta["frames"]), int(meta["hmc_size"]),
                    str(meta.get("text", "")), gaze, expressions)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ClipError(f"clip {p} is malformed ({one_line(exc)[:120]}); {fix}") from None
    if gaze.shape != (clip.frames, 2, 3) or (expressions is not None and expressions.shape != (clip.frames, 52)):
        raise ClipError(f"clip {p} arrays do not match its {clip.frames} frames; {fix}")
    return clip


def write_clip(path: Path | str, *, identity: int, fps: float, hmc: np.ndarray, audio: np.ndarray,
               gaze: np.ndarray, expressions: np.ndarray | None, text: str, command: str,
               jpeg_quality: int = 88) -> Path:
    """Write a clip: hmc uint8 [T, 3, S, S], audio float32 16 kHz mono, gaze [T, 2, 3]."""
    from codecav.encoders.audio.driver import write_wav

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    frames, views, size = hmc.shape[0], hmc.shape[1], hmc.shape[2]
    with zipfile.ZipFile(out / "hmc.zip", "w", zipfile.ZIP_STORED) as archive:
        for i in range(frames):
            buffer = io.BytesIO()
            strip = hmc[i].transpose(1, 0, 2).reshape(size, views * size)
            Image.fromarray(strip).save(buffer, format="JPEG", quality=jpeg_quality)
            info = zipfile.ZipInfo(f"{i:06d}.jpg", date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue())
    write_wav(out / "audio.wav", audio)
    np.save(out / "gaze.npy", np.asarray(gaze, np.float32))
    if expressions is not None:
        np.save(out / "expressions.npy", np.asarray(expressions, np.float32))
    meta = {"format": CLIP_FORMAT, "identity": identity, "name": f"clip of studio identity {identity}",
            "fps": fps, "frames": frames, "hmc_size": size, "views": list(HMC_VIEWS), "text": text,
            "audio": {"file": "audio.wav", "sample_rate": 16000, "seconds": round(len(audio) / 16000, 3)},
            "command": command}
    (out / "clip.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


class ClipSource(ExpressionSource):
    """A clip replayed through its HMC, audio and gaze drivers and fused (FusionPolicy) into one sample per
    HMC frame, offline."""

    name = "clip"

    def __init__(self, path: Path | str, hmc_model: bytes | Path | str | None = None,
                 audio_model: bytes | Path | str | None = None, policy: FusionPolicy | None = None,
                 threads: int = 1) -> None:
        """Load the clip and its drivers (ClipError / MissingEncoderError naming the fix)."""
        self.clip = load_clip(path)
        """The clip."""
        self._sources = self.clip.sources(hmc_model, audio_model, threads)
        self._policy = policy or FusionPolicy()
        self._latest: dict[str, ExpressionSample] = {}
        self._pending: dict[str, ExpressionSample | None] = {}
        self._index = 0

    def _newest_at(self, kind: str, time_us: int) -> ExpressionSample | None:
        source = self._sources[kind]
        while True:
            pending = self._pending.get(kind)
            if pending is None:
                pending = source.read()
                if pending is None:
                    return self._latest.get(kind)
                self._pending[kind] = pending
            if pending.capture_time_us > time_us:
                return self._latest.get(kind)
            self._latest[kind] = pending
            self._pending[kind] = None

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The fused sample of the next HMC frame; None after the last."""
        if self._index >= self.clip.frames:
            return None
        time_us = int(round(self._index * 1e6 / self.clip.fps))
        self._index += 1
        samples = {k: s for k in self._sources if (s := self._newest_at(k, time_us)) is not None}
        return fuse(samples, self._policy, capture_time_us=time_us)

    def close(self) -> None:
        """Close the drivers."""
        self._index = self.clip.frames
        for source in self._sources.values():
            source.close()


