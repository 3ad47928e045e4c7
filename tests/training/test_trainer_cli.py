"""`codecav avatar build` and `codecav avatar eval` end to end on a quick capture (a few training steps):
the package carries its provenance, eval prints the held-out keys, user errors exit 2 with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import moderngl
import pytest

from codecav.cli.main import main
from codecav.training.studio.capture import capture_identity
from codecav.training.studio.head_model import HeadModel

pytest.importorskip("torch", reason="the trainer needs the train extra (pip install codecav[train])")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, gl_context: moderngl.Context,
          head_model: HeadModel) -> tuple[Path, Path]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    capture = tmp_path_factory.mktemp("cap")
    capture_identity(2, capture, preset="quick", frames=10, cache_dir=tmp_path_factory.mktemp("cache"))
    out = tmp_path_factory.mktemp("pkg") / "chiara.cavatar"
    assert main(["avatar", "build", "--capture", str(capture), "--out", str(out), "--steps", "3", "--batch", "1",
                 "--geometry-weight", "2.5", "--clip-grad-norm", "0"]) == 0
    return capture, out


@pytest.mark.slow
def test_build_writes_a_package_with_provenance(built: tuple[Path, Path]) -> None:
    from codecav.assets.loader import load_avatar

    capture, out = built
    prov = load_avatar(out).manifest.provenance
    assert prov["kind"] == "trained" and prov["model"] == "pica" and prov["seed"] == 0
    assert prov["train_config"]["geometry_weight"] == 2.5 and "--geometry-weight 2.5" in prov["command"]
    assert prov["train_config"]["clip_grad_norm"] == 0 and "--clip-grad-norm 0" in prov["command"]  # 0: never
    assert prov["data"]["identity"]["index"] == 2 and prov["data"]["split"]["heldout_cameras"] == ["400003"]
    assert prov["wall_time_s"] > 0 and len(prov["data"]["split"]["heldout_frames"]) == 1  # 10% of 10 random frames
    assert {"train_uv_psnr", "heldout_expr_uv_psnr", "heldout_expr_uv_psnr_expression_codes",
            "heldout_view_uv_psnr"} <= set(prov["metrics"])
    assert out.with_name("chiara.ckpt").is_file()


@pytest.mark.slow
def test_eval_json_on_the_capture_and_quick(built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capture, out = built
    assert main(["avatar", "eval", str(out), "--capture", str(capture), "--json", "--frames", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images_heldout_view"] == 2  # 2 frames x the one held-out camera
    assert 15 < report["psnr_heldout_view"] < 60 and report["mask_iou_heldout_view"] > 0.95
    assert main(["avatar", "eval", str(out), "--quick", "--json"]) == 0
    quick = json.loads(capsys.readouterr().out)
    assert {"psnr_heldout_expr", "psnr_heldout_view", "ssim_heldout_expr", "ssim_heldout_view"} <= set(quick)
    assert quick["mask_iou_heldout_expr"] > 0.95  # same person, new expressions: the geometry still fits


def test_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["avatar", "build", "--capture", str(tmp_path / "none"), "--out", str(tmp_path / "x.cavatar")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["avatar", "build", "--capture", str(tmp_path), "--out", str(tmp_path / "x.cavatar"),
                 "--clip-grad-norm", "-1"]) == 2
    assert "--clip-grad-norm must be >= 0" in capsys.readouterr().err
    assert main(["avatar", "eval", str(tmp_path / "x.cavatar")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codecav: ") and len(err.splitlines()) == 1
