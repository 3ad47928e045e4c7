"""The private Janus process itself (no namespace: nothing here needs ICE). Skips when janus is not installed."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from codecav.net.sfu.janus_server import JanusConfig, JanusProcess, janus_binary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_janus_runs_in_its_own_folder_so_nothing_it_drops_lands_where_codecav_was_started(tmp_path: Path) -> None:
    if janus_binary() is None:
        pytest.skip("janus is not installed (apt-get install janus; it is in the Makefile's APT_PACKAGES)")
    janus = JanusProcess(JanusConfig(tmp_path / "janus", http_port=_free_port()))
    janus.start()
    try:
        assert janus.process is not None
        assert Path(os.readlink(f"/proc/{janus.process.pid}/cwd")) == tmp_path / "janus"
    finally:
        janus.stop()
    assert janus.process is None
