"""A call in the headset: you in an OpenXR headset, a friend (a second process, headless) across the table.

Your headset's pose, relative to where you sat when the call began, is the head pose your avatar sends; eye gaze
and face tracking join in when the runtime offers them. The friend sits life size across a small table, in
stereo with depth. Frames follow the runtime's xrWaitFrame, and capture-to-photon is measured to the predicted
display time. Without an OpenXR runtime it says why in one line and renders headless instead.

Run: python examples/vr_call.py    (start monado-service or SteamVR first; writes report.json, trace.json,
xr_call.json and both eyes' last snapshot under out/examples/vr_call/you)

CODECAV_EXAMPLE_SMOKE=1 talks for 3 s; CODECAV_EXAMPLE_OUT picks the output folder.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.assets.writer import write_avatar
from codecav.net.signaling.server import SignalingServer
from codecav.runtime.call_app import CallRequest, run_call
from codecav.runtime.engine import NetworkThread


def main() -> int:
    smoke = os.environ.get("CODECAV_EXAMPLE_SMOKE") == "1"
    out = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/examples")) / "vr_call"
    out.mkdir(parents=True, exist_ok=True)
    seconds = 3.0 if smoke else 30.0
    small = {"feature_size": 16, "mesh_resolution": (8, 12)}
    you = write_avatar(build_synthetic_avatar(seed=0, **small), out / "you.cavatar")  # type: ignore[arg-type]
    friend = write_avatar(build_synthetic_avatar(seed=1, **small), out / "friend.cavatar")  # type: ignore[arg-type]
    secret = secrets.token_hex(32).encode()
    (out / "secret").write_bytes(secret + b"\n")
    net = NetworkThread("signal")
    server = SignalingServer("127.0.0.1", 0, secret)
    net.call(server.start(), timeout=10)
    common = ["--room", "vr", "--signal", server.url, "--secret-file", str(out / "secret"), "--loopback"]
    # The friend is in the room first and stays a little longer than you, so you leave a call that goes on.
    friend_proc = subprocess.Popen([sys.executable, "-m", "codecav", "call", *common, "--peer", "friend", "--avatar",
                                    str(friend), "--size", "160x120", "--seconds", str(seconds + 6)],
                                   stdout=subprocess.PIPE, text=True)
    try:
        assert friend_proc.stdout is not None
        for line in friend_proc.stdout:
            print(f"friend: {line.rstrip()}")
            if line.startswith("joined room"):
                break
        request = CallRequest(room="vr", signal_url=server.url, avatar=you, source="synthetic",
                              secret_file=out / "secret", peer_id="you", render="xr", out=out / "you",
                              seconds=seconds, loopback=True)
        for line in run_call(request, notify=print):
            print(line)
        rest, _ = friend_proc.communicate(timeout=60)
        print("".join(f"friend: {line}\n" for line in rest.splitlines()), end="")
        return friend_proc.returncode
    finally:
        if friend_proc.poll() is None:
            friend_proc.kill()
        net.call(server.stop(), timeout=10)
        net.stop()


if __name__ == "__main__":
    raise SystemExit(main())
