"""Mp4Writer: H.264 frames (and AAC voice) that decode back to what was written."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from codecav.runtime.video import Mp4Writer, probe_video


def test_frames_and_audio_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, 64, 48, fps=30, audio_rate=16000) as writer:
        for i in range(15):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, : 4 * (i + 1)] = (200, 40, 40)  # a red bar growing to the right
            writer.write(frame)
        t = np.arange(16000) / 16000
        writer.add_audio((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    frames, width, height, has_audio = probe_video(path)
    assert (frames, width, height, has_audio) == (15, 64, 48, True)
    with av.open(str(path)) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="rgb24")
    # The last frame's bar covers 60 of 64 columns: red on the left, black at the far right.
    assert last[24, 10, 0] > 150 and last[24, 10, 1] < 90
    assert last[24, 63].max() < 40


def test_wrong_frame_shape_is_refused(tmp_path: Path) -> None:
    with Mp4Writer(tmp_path / "x.mp4", 64, 48) as writer, pytest.raises(ValueError, match=r"uint8 \[48, 64, 3\]"):
        writer.write(np.zeros((48, 64, 4), np.uint8))
