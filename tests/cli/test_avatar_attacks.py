"""Hostile packages through the real command line (`python -m codecav avatar verify PATH`): each is refused
with exit status 2 and one line on stderr naming the member, the problem and the fix; no traceback, no
onnxruntime log, no ANSI colour; within the 10 s the call gives a joining avatar. The shipped samples
still verify."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from codecav.assets.package import AvatarPackage
from codecav.assets.samples import sample_avatar_paths
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.writer import write_avatar
from tests.assets.attacks import (
    add_constant_of_shape,
    add_gather_out_of_range,
    add_huge_loop,
    add_unused_initializer,
    nest_manifest,
)

REFUSE_WITHIN_S = 10
"""The issue's bound on a refusal; a hang guard here, typical runs take one to two seconds."""


@pytest.fixture(scope="module")
def synthetic() -> AvatarPackage:
    return build_synthetic_avatar(0)


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codecav", "avatar", "verify", str(path)], capture_output=True,
                          text=True, timeout=REFUSE_WITHIN_S, cwd=Path(__file__).resolve().parents[2])


def assert_refused(proc: subprocess.CompletedProcess[str], path: Path, member: str) -> str:
    """Exit 2, nothing on stdout, one clean line on stderr: 'codecav: PATH: member M ...; FIX'."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), proc.stderr
    line = proc.stderr.rstrip("\n")
    assert line.startswith(f"codecav: {path}: member {member} "), line
    assert "; " in line and "Traceback" not in line and "\x1b[" not in line and "onnxruntime:" not in line
    return line


def _zip_dir(package_dir: Path) -> Path:
    """The directory package as a .cavatar (written by hand: write_avatar refuses to write such a package)."""
    out = package_dir.with_suffix(".cavatar")
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(p for p in package_dir.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(package_dir).as_posix())
    return out


def test_loop_with_a_huge_trip_count(tmp_path: Path, synthetic: AvatarPackage) -> None:
    package_dir = write_avatar(synthetic, tmp_path / "loop")
    add_huge_loop(package_dir)
    path = _zip_dir(package_dir)
    line = assert_refused(verify(path), path, "decoder.onnx")
    assert "uses operator Loop (control flow" in line


@pytest.mark.parametrize("shape", [[64, 1024, 1024, 1024], [1, 1024, 1024, 1024]], ids=["256GiB", "4GiB"])
def test_constant_of_shape_huge(tmp_path: Path, synthetic: AvatarPackage, shape: list[int]) -> None:
    package_dir = write_avatar(synthetic, tmp_path / "big")
    add_constant_of_shape(package_dir, shape)
    line = assert_refused(verify(package_dir), package_dir, "decoder.onnx")
    assert f"tensor big {shape} would take" in line


def test_deeply_nested_manifest(tmp_path: Path, synthetic: AvatarPackage) -> None:
    package_dir = write_avatar(synthetic, tmp_path / "deep")
    nest_manifest(package_dir, 100_000)
    line = assert_refused(verify(package_dir), package_dir, "avatar.json")
    assert "nests 100002 levels deep, over the limit of 16" in line


def test_onnxruntime_log_noise_stays_out(tmp_path: Path, synthetic: AvatarPackage) -> None:
    # Unused initializer: a warning at load; out-of-range Gather: an error at run; both coloured, both silenced.
    package_dir = write_avatar(synthetic, tmp_path / "noisy")
    add_unused_initializer(package_dir)
    add_gather_out_of_range(package_dir, synthetic.manifest.mesh.num_vertices)
    line = assert_refused(verify(package_dir), package_dir, "decoder.onnx")
    assert "fails to run on onnxruntime" in line and "indices element out of data bounds" in line


@pytest.mark.parametrize("path", sample_avatar_paths(include_baselines=True), ids=lambda p: p.name)
def test_shipped_samples_still_verify(path: Path) -> None:
    proc = verify(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK sample-") and proc.stdout.count("\n") == 1 and proc.stderr == ""

