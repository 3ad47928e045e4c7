"""The source registry and the `codecav encode` / `codecav devices` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecav.arkit import ARKIT_INDEX
from codecav.assets.package import AvatarPackage
from codecav.assets.writer import write_avatar
from codecav.cli.main import main
from codecav.cli.sources import register_cli_sources
from codecav.encoders.audio.driver import write_wav
from codecav.encoders.audio.features import resample
from codecav.encoders.errors import ClipError, SourceSpecError
from codecav.encoders.sources import get_source, open_source, source_names
from codecav.encoders.track import open_expression_file, save_expression_file
from codecav.training.studio.speech import synthesize


def test_registry_names_the_missing_key() -> None:
    assert {"wav", "mic", "clip", "expressions", "webcam"} <= set(source_names())
    register_cli_sources()  # the command line plugs in the simulated headset camera
    assert "hmc-studio" in source_names()
    assert get_source("wav").kind == "audio"
    with pytest.raises(ValueError, match="no source 'nope'; registered: .*wav"):
        get_source("nope")
    with pytest.raises(SourceSpecError, match="unknown source 'nope:x'; use one of: .*wav:PATH"):
        open_source("nope:x")
    with pytest.raises(SourceSpecError, match="wav:PATH.wav"):
        open_source("wav")


def test_expression_file_round_trip(tmp_path: Path) -> None:
    w = np.random.default_rng(0).random((10, 52)).astype(np.float32)
    path = save_expression_file(tmp_path / "face.npz", w, 60.0)
    kind, source = open_source(f"expressions:{path}")
    samples = []
    while (s := source.read()) is not None:
        samples.append(s)
    assert kind == "face_tracking" and len(samples) == 10
    np.testing.assert_allclose(samples[3].weights, w[3])
    assert samples[3].capture_time_us == 50_000
    np.save(tmp_path / "bad.npy", w)
    with pytest.raises(ClipError, match="not a readable .npz"):
        open_expression_file(tmp_path / "bad.npy")


def test_encode_command_writes_codes(tmp_path: Path, driven_avatar: AvatarPackage,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    avatar = write_avatar(driven_avatar, tmp_path / "a.cavatar")
    utt = synthesize("Open wide, please.")
    wav = write_wav(tmp_path / "s.wav", resample(utt.audio / 32768.0, utt.sample_rate))
    jaw = np.zeros((90, 52), np.float32)
    jaw[:, ARKIT_INDEX["browInnerUp"]] = 1.0
    face = save_expression_file(tmp_path / "face.npz", jaw, 30.0)
    out = tmp_path / "codes.npz"
    assert main(["encode", "--source", f"wav:{wav}", "--source", f"expressions:{face}", "--avatar", str(avatar),
                 "--out", str(out)]) == 0
    with np.load(out) as data:
        codes, times = data["codes"], data["capture_time_us"]
    assert codes.shape[1] == driven_avatar.manifest.latent.dim and len(codes) >= 80
    assert np.all(np.diff(times) > 0)
    assert "latent frames" in capsys.readouterr().out


def test_missing_microphone_via_cli_is_one_line_exit_2(tmp_path: Path, driven_avatar: AvatarPackage,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    avatar = write_avatar(driven_avatar, tmp_path / "a.cavatar")
    assert main(["encode", "--source", "mic:no-such-mic-42", "--avatar", str(avatar)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codecav: ") and "\n" not in err
    assert "no-such-mic-42" in err or "no audio input devices" in err
    assert "codecav devices" in err
