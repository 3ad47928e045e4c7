"""MP4 output of rendered frames (H.264) with an optional voice track (AAC), through PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from codecav.errors import CodecavError


class VideoWriteError(CodecavError):
    """The video file cannot be written."""


class Mp4Writer:
    """Write RGB frames at a fixed rate and, with `audio_rate`, mono voice (`add_audio`); `close()` finishes."""

    def __init__(self, path: Path, width: int, height: int, fps: int = 30, crf: int = 23,
                 audio_rate: int | None = None) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs even frame sizes, got {width}x{height}")
        self.path = path
        self.width, self.height, self.fps = width, height, fps
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._container = av.open(str(path), mode="w")
        except OSError as exc:
            raise VideoWriteError(f"cannot write {path} ({exc}); check the folder exists and is writable") from None
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": "veryfast"}
        # Every stream must exist before the first packet is muxed (the header is written then).
        self._audio = self._container.add_stream("aac", rate=audio_rate, layout="mono") if audio_rate else None
        self._audio_samples = 0
        self.frames = 0
        self._closed = False

    def write(self, rgb: np.ndarray) -> None:
        """Append one uint8 [height, width, 3] frame."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 [{self.height}, {self.width}, 3], got {rgb.dtype} {rgb.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def add_audio(self, samples: np.ndarray) -> None:
        """Append mono float32 samples in [-1, 1] (AAC at `audio_rate`), timed from the first video frame."""
        if self._audio is None:
            raise ValueError("this Mp4Writer was opened without audio_rate; it has no audio track")
        rate = int(self._audio.rate)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        block = 1024
        for start in range(0, len(pcm), block):
            chunk = pcm[start:start + block]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = self._audio_samples
            frame.time_base = Fraction(1, rate)
            self._audio_samples += len(chunk)
            for packet in self._audio.encode(frame):
                self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._closed:
            return
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            for packet in self._audio.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._closed = True

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def probe_video(path: Path) -> tuple[int, int, int, bool]:
    """(frames decoded, width, height, has audio) of a video file: what the tests check a demo video by."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = len(container.streams.audio) > 0
    return frames, width, height, has_audio
