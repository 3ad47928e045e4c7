"""The command line: help, one-line errors with exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codecav.cli.args import UsageError, parse_size
from codecav.cli.main import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codecav", *args], capture_output=True, text=True, timeout=120)


def test_parse_size() -> None:
    assert parse_size("512x384") == (512, 384)
    with pytest.raises(UsageError, match="WIDTHxHEIGHT"):
        parse_size("512by384")
    with pytest.raises(UsageError, match="out of range"):
        parse_size("4x4")


def test_help_lists_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("avatar", "render", "demo"):
        assert command in proc.stdout


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_bad_size_is_one_line_exit_2() -> None:
    proc = run_cli("render", "--size", "huge", "--out", "x.png")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("codecav: size 'huge' is not WIDTHxHEIGHT")


def test_missing_avatar_is_one_line_exit_2() -> None:
    for command in (("avatar", "info"), ("avatar", "verify")):
        proc = run_cli(*command, "/nonexistent/avatar.cavatar")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0
        assert "/nonexistent/avatar.cavatar" in proc.stderr


@pytest.mark.gl
def test_avatar_capture_quick_writes_multiface_layout(tmp_path: Path) -> None:
    proc = run_cli("avatar", "capture", "--identity", "0", "--preset", "quick", "--frames", "2",
                   "--out", str(tmp_path / "cap"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wrote capture of identity 0" in proc.stdout
    for member in ("KRT", "frame_list.txt", "vert_mean.bin", "tex_mean.png", "expressions.npy"):
        assert (tmp_path / "cap" / member).is_file()


def test_avatar_capture_unknown_preset_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("avatar", "capture", "--identity", "0", "--preset", "huge", "--out", str(tmp_path / "c"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "preset" in proc.stderr


def test_a_closed_output_pipe_ends_quietly() -> None:
    """`codecav avatar info X | head` must not print a traceback when head goes away (run in a child: the test
    replaces a handler with one that hits a closed pipe, as print() does)."""
    import subprocess
    import sys

    script = (
        "import codecav.cli.avatar as avatar, sys\n"
        "def closed(args):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "avatar._cmd_avatar_info = closed\n"
        "from codecav.cli.main import main\n"
        "sys.exit(main(['avatar', 'info', 'x']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 141
    assert proc.stderr == ""
