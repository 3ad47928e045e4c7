"""Run a private Janus (Debian package `janus`, 1.1.2) for SFU calls: config written to its own folder, never
/etc/janus; HTTP API on 127.0.0.1; ICE restricted to one address.

Janus's ICE skips loopback-flagged interfaces, so on one machine it needs an address on a non-loopback
interface: `JanusNamespace` makes a network namespace with a veth carrying 127.0.0.2/32, and Janus plus its
clients run inside it (`ice_enforce_list = "127.0.0.2"`; clients offer 127.0.0.2 as their host candidate).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from codecav.clock import MONOTONIC, Clock
from codecav.net.errors import NetError

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
"""Where Debian installs Janus's plugins and transports."""


class JanusError(NetError):
    """Janus is missing, failed to start, or refused a request."""


@dataclass(frozen=True)
class JanusConfig:
    """A private Janus instance."""

    folder: Path
    """Config (and log) folder, written by write_config."""
    http_port: int = 8088
    """HTTP API port on 127.0.0.1 (path /janus)."""
    ice_address: str = "127.0.0.2"
    """The only address Janus gathers ICE candidates on (ice_enforce_list)."""
    rtp_port_range: str = "20000-40000"
    """UDP ports for media and data."""
    debug_level: int = 3
    """Janus log level (0-7)."""
    lib_folder: Path = JANUS_LIB
    """Plugins and transports of the installed Janus."""

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.http_port}/janus"


_DISABLED_PLUGINS = ",".join(f"libjanus_{name}.so" for name in (
    "audiobridge", "echotest", "nosip", "recordplay", "sip", "streaming", "textroom", "videocall", "voicemail",
    "duktape", "lua"))


def janus_binary() -> str | None:
    """Path of the janus executable, or None when the package is not installed."""
    return shutil.which("janus")


def write_config(config: JanusConfig) -> Path:
    """Write janus.jcfg, the HTTP transport and the VideoRoom plugin config into config.folder; its main file."""
    folder = config.folder
    folder.mkdir(parents=True, exist_ok=True)
    lib = config.lib_folder
    (folder / "janus.jcfg").write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = {config.debug_level}
    log_to_file = "{folder}/janus.log"
}}
media: {{
    rtp_port_range = "{config.rtp_port_range}"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{config.ice_address}"
    ignore_mdns = true
}}
plugins: {{
    disable = "{_DISABLED_PLUGINS}"
}}
transports: {{
    disable = "libjanus_websockets.so,libjanus_pfunix.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_rabbitmq.so"
}}
events: {{
    broadcast = false
}}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {config.http_port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("""general: {
    string_ids = true
}
""")
    return folder / "janus.jcfg"


class JanusProcess:
    """A Janus started from a written config; `start()` waits for /janus/info, `stop()` terminates it.
    `prefix` runs it through another command (e.g. `ip netns exec NAME`)."""

    def __init__(self, config: JanusConfig, prefix: tuple[str, ...] = (), *, clock: Clock = MONOTONIC) -> None:
        """`clock` times the start-up wait and its polls."""
        self.config = config
        self.prefix = prefix
        self.clock = clock
        """Time source of start()'s time-out."""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> dict[str, object]:
        """Start and wait until the HTTP API answers; its /info; JanusError with the log tail otherwise."""
        binary = janus_binary()
        if binary is None:
            raise JanusError("janus is not installed; apt-get install janus (Debian 1.1.2)")
        if self.info() is not None:  # ours would fail to bind, and that one would answer in its place
            raise JanusError(f"another Janus already answers on {self.config.url}; stop it (pkill janus) or pick "
                             "another http_port")
        main = write_config(self.config)
        # Run in its own folder: Janus 1.1.2 can crash while it shuts down, and a core dump (or any file it
        # writes relative to its working directory) then lands beside its config, not where the user ran codecav.
        self.process = subprocess.Popen([*self.prefix, binary, "-F", str(self.config.folder), "-C", str(main)],
                                        cwd=self.config.folder, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline_ns = self.clock.now_ns() + int(timeout_s * 1e9)
        while self.clock.now_ns() < deadline_ns:
            if self.process.poll() is not None:
                raise JanusError(f"janus exited with {self.process.returncode}: {self.log_tail()}")
            info = self.info()
            if info is not None:
                return info
            self.clock.sleep_ns(50_000_000)
        self.stop()
        raise JanusError(f"janus did not answer on {self.config.url} within {timeout_s:g} s: {self.log_tail()}")

    def info(self) -> dict[str, object] | None:
        """GET /janus/info, or None while it does not answer (run inside the same namespace as Janus)."""
        try:
            with urllib.request.urlopen(self.config.url + "/info", timeout=1) as reply:
                data: dict[str, object] = json.loads(reply.read())
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of janus.log, on one line."""
        try:
            text = (self.config.folder / "janus.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate (then kill) the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class JanusNamespace:
    """A network namespace with lo up and a veth holding `address`/32, for Janus and its clients (root only)."""

    def __init__(self, address: str = "127.0.0.2") -> None:
        self.name = f"codecav-janus-{uuid.uuid4().hex[:8]}"
        self.address = address
        self.created = False

    def create(self) -> None:
        """Create it; JanusError naming the failing step (e.g. not root) otherwise."""
        if shutil.which("ip") is None:
            raise JanusError("the ip command is missing; apt-get install iproute2")
        self._run(["ip", "netns", "add", self.name])
        self.created = True
        for step in (["ip", "link", "set", "lo", "up"],
                     ["ip", "link", "add", "cv0", "type", "veth", "peer", "name", "cv1"],
                     ["ip", "addr", "add", f"{self.address}/32", "dev", "cv0"],
                     ["ip", "link", "set", "cv0", "up"], ["ip", "link", "set", "cv1", "up"]):
            self._run(["ip", "netns", "exec", self.name, *step])

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            if self.created:
                self.delete()
            raise JanusError(f"`{' '.join(cmd)}` failed ({done.stderr.strip()}); network namespaces need root")

    @property
    def prefix(self) -> tuple[str, ...]:
        """Command prefix that runs a program inside the namespace."""
        return ("ip", "netns", "exec", self.name)

    def delete(self) -> None:
        """Remove it."""
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        self.created = False
