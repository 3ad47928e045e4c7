"""The participant process of `codecav demo` (`python -m codecav.cli.demo_peer CONFIG.json`): its stdout holds
only events, one JSON object per line; a user error is a `failed` event, one line on stderr and exit status 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from codecav.cli.demo_peer import run
from codecav.runtime.demo_peer import PeerFailed, parse_event


def run_peer_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codecav.cli.demo_peer", *args], capture_output=True, text=True,
                          timeout=120)


def test_missing_config_is_a_failed_event_and_one_line_on_stderr(tmp_path: Path) -> None:
    proc = run_peer_process(str(tmp_path / "none.json"))
    assert proc.returncode == 2
    [line] = proc.stdout.splitlines()
    event = parse_event(line)
    assert isinstance(event, PeerFailed) and "cannot read the participant configuration" in event.message
    assert str(tmp_path / "none.json") in event.message
    assert proc.stderr.strip() == f"codecav demo peer: {event.message}"


def test_malformed_config_names_the_problem(tmp_path: Path) -> None:
    for text, problem in (("{not json", "is not JSON"), ("[1]", "holds a JSON list"),
                          (json.dumps({"name": "alice"}), "missing")):
        path = tmp_path / "peer.json"
        path.write_text(text)
        channel = io.StringIO()
        assert run(path, channel) == 2
        [line] = channel.getvalue().splitlines()
        event = parse_event(line)
        assert isinstance(event, PeerFailed) and problem in event.message and "\n" not in event.message


def test_wrong_arguments_print_usage() -> None:
    proc = run_peer_process()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: python -m codecav.cli.demo_peer CONFIG.json")
