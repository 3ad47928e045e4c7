"""Frames for the webcam driver through PyAV: a V4L2 camera (/dev/videoN) or any video file FFmpeg decodes,
named by a `webcam[:DEVICE|FILE]` spec. Decoded frames are RGB uint8 with their presentation time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from codecav.encoders.errors import DriverError, SourceSpecError, one_line

DEFAULT_DEVICE = "/dev/video0"
"""The camera `webcam` alone means."""


class CameraError(DriverError):
    """A camera or video file cannot be found, opened or decoded."""


@dataclass(frozen=True)
class WebcamSpec:
    """A parsed `webcam[:DEVICE|FILE]` source spec."""

    path: str
    """Device node (e.g. /dev/video0) or video file path."""
    is_device: bool
    """True for a V4L2 camera, False for a video file."""


def parse_webcam_spec(spec: str) -> WebcamSpec:
    """`webcam` -> /dev/video0; `webcam:N` -> /dev/videoN; `webcam:/dev/...` -> that device; `webcam:PATH`
    -> a video file. SourceSpecError for other source names or an empty target."""
    name, sep, target = spec.partition(":")
    if name != "webcam":
        raise SourceSpecError(f"source spec {spec!r} is not a webcam spec; write webcam, webcam:N, "
                              "webcam:/dev/videoN or webcam:FILE")
    if not sep:
        return WebcamSpec(DEFAULT_DEVICE, True)
    if not target:
        raise SourceSpecError(f"source spec {spec!r} has nothing after 'webcam:'; write webcam:0 for the "
                              "first camera or webcam:FILE for a video")
    if target.isdigit():
        return WebcamSpec(f"/dev/video{int(target)}", True)
    return WebcamSpec(target, target.startswith("/dev/"))


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame."""

    index: int
    """Frame number from 0 in decode order."""
    time_s: float
    """Presentation time in seconds from the first frame, strictly increasing."""
    rgb: np.ndarray
    """uint8 [H, W, 3] RGB pixels, row 0 at the top."""


@dataclass(frozen=True)
class CameraOptions:
    """What to ask a V4L2 camera for (files ignore it)."""

    size: tuple[int, int] = (640, 480)
    """(width, height) in pixels."""
    fps: int = 30
    """Frames per second."""


class VideoInput:
    """An open camera or video file yielding VideoFrames; close() releases it."""

    def __init__(self, spec: WebcamSpec, camera: CameraOptions | None = None) -> None:
        """Open the device or file of `spec`; CameraError with the fix when it is absent or unreadable."""
        self.spec = spec
        self._container: Any = _open_container(spec, camera or CameraOptions())
        if not self._container.streams.video:
            self._container.close()
            raise CameraError(f"{spec.path} has no video stream; give a video file or a camera")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return int(self._stream.codec_context.width), int(self._stream.codec_context.height)

    @property
    def fps(self) -> float:
        """Nominal frame rate (0 when the container does not say)."""
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else 0.0

    def frames(self) -> Iterator[VideoFrame]:
        """Decode frames in order until the end of the file (a camera runs until closed)."""
        start: float | None = None
        last = -1.0
        step = 1.0 / self.fps if self.fps > 0 else 1.0 / 30.0
        try:
            for index, frame in enumerate(self._container.decode(self._stream)):
                t = float(frame.time) if frame.time is not None else (start or 0.0) + last + step
                start = t if start is None else start
                time_s = t - start if t - start > last else last + step  # keep times increasing
                last = time_s
                yield VideoFrame(index, time_s, frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            raise CameraError(f"decoding {self.spec.path} failed ({one_line(exc)}); "
                              "check the file or camera connection") from None

    def close(self) -> None:
        """Release the device or file."""
        self._container.close()

    def __enter__(self) -> VideoInput:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _open_container(spec: WebcamSpec, camera: CameraOptions) -> Any:
    if spec.is_device:
        if not os.path.exists(spec.path):
            raise CameraError(f"no camera at {spec.path}; plug one in, name another with webcam:/dev/videoN, "
                              "or drive from a video file with webcam:FILE")
        options = {"video_size": f"{camera.size[0]}x{camera.size[1]}", "framerate": str(camera.fps)}
        try:
            return av.open(spec.path, format="v4l2", options=options)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise CameraError(f"cannot open camera {spec.path} ({one_line(exc)}); close other programs using "
                              "it and check you may read it (group 'video')") from None
    path = Path(spec.path)
    if not path.is_file():
        raise CameraError(f"no video file {spec.path}; give an existing file, or a camera with webcam:/dev/videoN")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CameraError(f"cannot read video {spec.path} ({one_line(exc)}); give a file FFmpeg can decode "
                          "(e.g. .mp4, .webm, .mkv)") from None
