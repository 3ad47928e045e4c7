"""Every script in examples/ runs headless to completion (smoke mode: small sizes, few frames)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/ should hold one script per user-facing capability"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_has_a_docstring_with_its_command(script: Path) -> None:
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert doc and f"examples/{script.name}" in doc, "say in the docstring how to run it"


@pytest.mark.gl
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_headless(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CODECAV_EXAMPLE_SMOKE": "1", "CODECAV_EXAMPLE_OUT": str(tmp_path)}
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "Traceback" not in proc.stderr
