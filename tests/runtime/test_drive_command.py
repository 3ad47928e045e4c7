"""`codecav drive`: a real talking-face clip drives an avatar; the MP4 holds the input beside the avatar, and
the avatar half changes as the face moves. Skips with the reason when the webcam extra or the clip is missing."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from codecav.cli.main import main
from codecav.encoders.webcam.landmarker import WebcamExtraError, import_mediapipe
from codecav.encoders.webcam.model import LandmarkerModelError, load_landmarker_model
from tests.encoders.webcam.media import MediaUnavailable, talking_face_video


@pytest.fixture(scope="module")
def clip() -> Path:
    try:
        import_mediapipe()
        load_landmarker_model()
        return talking_face_video()
    except MediaUnavailable as exc:
        pytest.skip(f"talking-face clip unavailable: {exc}")
    except (WebcamExtraError, LandmarkerModelError) as exc:  # the webcam extra or its model is not installed
        pytest.skip(str(exc))


@pytest.mark.gl
def test_drive_writes_input_beside_a_moving_avatar(clip: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drive.mp4"
    assert main(["drive", "--source", f"webcam:{clip}", "--seconds", "2", "--height", "128", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"wrote {out}"
    assert "50 frames, 50 with a face (100%)" in lines[-2]
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 50 and frames[0].shape[0] == 128
    avatar = np.array([f[:, -128:].astype(np.float32) for f in frames])
    # Something is drawn on the dark background, and it changes over the clip (expression and head pose).
    assert (avatar[0].max(axis=2) > 60).mean() > 0.05
    changed = (np.abs(avatar - avatar[0]).max(axis=3) > 10).sum(axis=(1, 2))  # pixels that moved visibly
    assert changed.max() > 100, changed.max()


def test_unsupported_source_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drive", "--source", "microphone", "--out", "x.mp4"]) == 2
    assert capsys.readouterr().err.strip() == (
        "codecav: source 'microphone' is not supported by drive; use webcam, webcam:/dev/videoN or webcam:FILE")
