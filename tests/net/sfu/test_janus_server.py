"""The private Janus process itself (no namespace: nothing here needs ICE). Skips when janus is not installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codecav.net.sfu.janus_server import JanusConfig, JanusProcess, janus_binary
from tests.net.loopback import free_port


def test_janus_runs_in_its_own_folder_so_nothing_it_drops_lands_where_codecav_was_started(tmp_path: Path) -> None:
    if janus_binary() is None:
        pytest.skip("janus is not installed (apt-get install janus; it is in the Makefile's APT_PACKAGES)")
    janus = JanusProcess(JanusConfig(tmp_path / "janus", http_port=free_port()))
    janus.start()
    try:
        assert janus.process is not None
        assert Path(os.readlink(f"/proc/{janus.process.pid}/cwd")) == tmp_path / "janus"
    finally:
        janus.stop()
    assert janus.process is None
