"""Helpers of the node-layout tests: a networked data directory on free loopback ports,
and nodes started as real `gridledger node run` processes (killed at the end)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ledger.node.init import init_network
from ledger.node.nodeconf import NodeConfig, load_node_config
from ledger.node.spec import default_config_path
from ledger.transport.nats_cluster import http_ok as probe_http_ok

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CLI = [PYTHON, "-c", "from webapp.cli import app; app()"]
HOST = "127.0.0.1"
EPHEMERAL_PORTS_START = 32768  # /proc/sys/net/ipv4/ip_local_port_range
PORTS_NEEDED = 40  # 3 NATS servers x 3 ports + a health port per node, with room
READY_S = 60.0
ADMIN_PASSWORD = "console-admin-pw"
HEALTH_PROBE_TIMEOUT_S = 5.0  # one /healthz answer on a loaded machine


def free_base_port(count: int = PORTS_NEEDED) -> int:
    """A base port with `count` consecutive ports free now on loopback."""
    for _ in range(200):
        base = random.randrange(20000, EPHEMERAL_PORTS_START - count)  # below Linux's ephemeral range: a probe never connects to itself
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError("no free port range")


def network_file(tmp: Path, **networked: Any) -> Path:
    """The default network file with `networked` settings changed."""
    spec = yaml.safe_load(default_config_path().read_text())
    spec["networked"].update(networked)
    path = tmp / "network.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def init_networked(tmp: Path, **networked: Any) -> Path:
    data = tmp / "net"
    init_network(network_file(tmp, **networked), data, admin_password=ADMIN_PASSWORD, networked=True, base_port=free_base_port())
    return data


def node_dirs(data: Path) -> list[Path]:
    return sorted(p.parent for p in (data / "orgs").glob("*/nodes/*/node.json"))


def node_homes(data: Path, kind: str) -> list[Path]:
    return [home for home in node_dirs(data) if load_node_config(home).kind == kind]


def wait_for(condition: Callable[[], bool], timeout_s: float = READY_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def http_ok(url: str) -> bool:
    return probe_http_ok(url)


def monitor_url(config: NodeConfig) -> str:
    return f"http://{config.health_host}:{config.health_port}"


def health_probe(config: NodeConfig, path: str = "/healthz", timeout_s: float = HEALTH_PROBE_TIMEOUT_S) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of a node's health endpoint, a 503's body too; (0, {}) when
    nothing answers. For the body; `http_ok` when only "healthy or not" matters."""
    try:
        with urllib.request.urlopen(monitor_url(config) + path, timeout=timeout_s) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read()))
    except OSError:
        return 0, {}


class NodeProcesses:
    """Nodes run by `gridledger node run --home DIR`, each in its own session."""

    def __init__(self) -> None:
        self.procs: dict[Path, subprocess.Popen[bytes]] = {}

    def start(self, home: Path) -> subprocess.Popen[bytes]:
        log = open(home / "test-run.log", "ab")
        proc = subprocess.Popen([*CLI, "node", "run", "--home", str(home)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy())
        self.procs[home] = proc
        return proc

    def start_nats(self, data: Path) -> list[NodeConfig]:
        configs = []
        for home in node_homes(data, "nats"):
            self.start(home)
            configs.append(load_node_config(home))
        for config in configs:
            wait_for(lambda c=config: http_ok(monitor_url(c) + "/healthz"), what=f"{config.name} healthy")
        return configs

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def cli_json(*args: str, timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, "GRIDLEDGER_FAST_KDF": "1"})
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {done.returncode}): {done.stdout!r} {done.stderr[-2000:]!r}") from None
