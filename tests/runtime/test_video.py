"""Mp4Writer: H.264 frames (and AAC voice) that decode back to what was written; VideoRecorder: presented frames
placed at their present times in a constant-rate video (real time), from a worker."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from codecav.runtime.video import Mp4Writer, RecordingStats, VideoRecorder, probe_video


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


def _solid(value: int) -> bytes:
    """A 64x48 picture of one grey level as bottom-up RGB rows (what a framebuffer read-back gives)."""
    return np.full((48, 64, 3), value, np.uint8).tobytes()


def test_recorder_puts_frames_at_their_present_times_so_the_video_is_real_time(tmp_path: Path) -> None:
    path = tmp_path / "view.mp4"
    recorder = VideoRecorder(Mp4Writer(path, 64, 48, fps=10))
    ms = 1_000_000
    t0 = 5_000 * ms
    # 10 fps slots: 0 at t0, 1 at +100 ms ... A renderer presenting late and irregularly: two frames in slot 1
    # (the later wins), nothing in slots 3-4 (slot 2's picture is repeated), the last at +500 ms; the recording
    # ends at +800 ms (the last picture held until then).
    for value, at_ms in ((20, 0), (60, 95), (100, 120), (140, 210), (220, 500)):
        recorder.offer(_solid(value), t0 + at_ms * ms)
        assert recorder.wait_idle(10.0)  # one at a time: a latest-wins hand-over would keep only the newest
    stats = recorder.close(end_ns=t0 + 800 * ms)
    assert stats == RecordingStats(offered=5, written=8, dropped=0, superseded=1, duplicated=4)
    frames, width, height, _audio = probe_video(path)
    assert (frames, width, height) == (8, 64, 48)
    with av.open(str(path)) as container:
        levels = [int(np.median(f.to_ndarray(format="rgb24"))) for f in container.decode(video=0)]
    assert np.allclose(levels, [20, 100, 140, 140, 140, 220, 220, 220], atol=6)



def test_recorder_started_before_the_first_frame_shows_it_from_time_zero(tmp_path: Path) -> None:
    recorder = VideoRecorder(Mp4Writer(tmp_path / "v.mp4", 64, 48, fps=10))
    recorder.begin(1_000_000_000)
    recorder.offer(_solid(80), 1_000_000_000 + 190_000_000)  # the first frame took 190 ms to render: slot 2
    stats = recorder.close(end_ns=1_000_000_000 + 400_000_000)
    assert (stats.written, stats.duplicated) == (4, 3) and probe_video(tmp_path / "v.mp4")[0] == 4
