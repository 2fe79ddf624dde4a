"""`gridledger up --networked`: every node of the local consortium in its own OS process.

The supervisor starts the nodes from their directories (`gridledger node run --home`) in
order (NATS servers, and once they answer /healthz the orderers, the peers, the console),
restarts a node that dies after a backoff that doubles up to BACKOFF_MAX_S (reset once a
node stayed up STABLE_S), logging every exit and restart, and on SIGINT/SIGTERM stops
them in the reverse order, each kind given STOP_TIMEOUT_S to finish before SIGKILL.
Children run in their own sessions, so a Ctrl-C at the terminal reaches only the
supervisor, which then stops them in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ledger.core.errors import ConfigError, LedgerError
from ledger.node.layout import NetworkLayout, NodeLayout
from ledger.node.nodeconf import NodeConfig, load_node_config
from ledger.node.nodelock import hold_supervisor_lock
from ledger.node.ports import Listen, check_ports_free, node_listens
from ledger.transport.nats_cluster import http_ok

log = structlog.get_logger("supervisor")

START_ORDER = ("nats", "orderer", "peer", "console")
POLL_S = 0.1
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 15.0
STABLE_S = 30.0  # a node up this long has its backoff reset
STOP_TIMEOUT_S = 20.0
NATS_READY_S = 60.0
HEALTH_TIMEOUT_S = 1.0


def networked_homes(layout: NetworkLayout) -> list[Path]:
    """Every node directory of a networked layout, in start order."""
    homes = [p.parent for p in layout.orgs_dir.glob("*/nodes/*/node.json")]
    if not homes:
        raise ConfigError(f"{layout.root} has no networked layout: run `gridledger init --data {layout.root} --networked`", code="NO_NETWORK")
    order = {kind: i for i, kind in enumerate(START_ORDER)}
    return sorted(homes, key=lambda home: (order[load_node_config(home).kind], home.name))


def child_env(kind: str, nats_servers: int, environ: Mapping[str, str], cores: int | None = None) -> dict[str, str]:
    """The environment of a node this supervisor starts. The NATS servers of one machine
    share its cores: each Go runtime gets GOMAXPROCS = cores // servers (at least 1), unless
    the operator set GOMAXPROCS. With Go's default (every core, per server) three servers on
    two cores spent ~12 % more CPU per transaction (A/B in the README), its idle threads
    spinning for work the others were doing; a server on a machine of its own (`node run`)
    keeps Go's default."""
    env = dict(environ)
    if kind == "nats" and nats_servers > 0 and "GOMAXPROCS" not in env:
        env["GOMAXPROCS"] = str(max(1, (cores if cores is not None else os.cpu_count() or 1) // nats_servers))
    return env


def nats_healthy(config: NodeConfig) -> bool:
    return http_ok(f"http://{config.health_host}:{config.health_port}/healthz", HEALTH_TIMEOUT_S)


@dataclass
class Child:
    """One supervised node."""

    home: Path
    config: NodeConfig
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = BACKOFF_FIRST_S
    restart_at: float | None = None

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class Supervisor:
    """Runs the nodes of one networked data directory; `command` starts `gridledger`."""

    data: Path
    command: Sequence[str]
    kinds: Sequence[str] = START_ORDER
    extra_args: dict[str, list[str]] = field(default_factory=dict)  # kind -> more `node run` arguments
    console_listen: tuple[str, int] | None = None  # where the console listens when extra_args moves it
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: int | None = None

    def __post_init__(self) -> None:
        layout = NetworkLayout(self.data)
        homes = networked_homes(layout)
        self.children = [Child(home, load_node_config(home)) for home in homes]
        self.children = [c for c in self.children if c.config.kind in self.kinds]
        # NETWORK_BUSY (before anything starts) when another supervisor or any node runs it
        self._lock = hold_supervisor_lock(layout, [c.home for c in self.children])
        try:  # PORT_IN_USE before anything starts, not a node restarted for ever
            check_ports_free([listen for c in self.children for listen in self._listens(c)])
        except LedgerError:
            self.stop()
            raise

    def _listens(self, child: Child) -> list[Listen]:
        host, port = self.console_listen if self.console_listen and child.config.kind == "console" else (None, None)
        return node_listens(child.home, child.config, console_host=host, console_port=port)

    def _spawn(self, child: Child) -> None:
        node = NodeLayout(child.home)
        with open(node.log_file, "ab") as out:
            args = [*self.command, "node", "run", "--home", str(child.home), *self.extra_args.get(child.config.kind, [])]
            servers = sum(1 for c in self.children if c.config.kind == "nats")
            env = child_env(child.config.kind, servers, os.environ)
            child.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("node_started", node=child.name, kind=child.config.kind, pid=child.proc.pid, restarts=child.restarts)

    def start(self) -> None:
        """Start every node in order (the orderers once the NATS servers answer)."""
        for kind in START_ORDER:
            group = [c for c in self.children if c.config.kind == kind]
            for child in group:
                self._spawn(child)
            if kind == "nats" and group:
                self._wait_nats(group)

    def _wait_nats(self, group: list[Child]) -> None:
        deadline = time.monotonic() + NATS_READY_S
        while time.monotonic() < deadline and not self.stopping.is_set():
            if all(nats_healthy(c.config) for c in group):
                log.info("nats_ready", servers=[c.name for c in group])
                return
            self.check_once()
            time.sleep(POLL_S)
        log.warning("nats_not_ready", servers=[c.name for c in group if not nats_healthy(c.config)])

    def check_once(self) -> None:
        """Notice exited nodes and restart those whose backoff has passed."""
        now = time.monotonic()
        for child in self.children:
            proc = child.proc
            if proc is not None and proc.poll() is not None and child.restart_at is None:
                if now - child.started_at >= STABLE_S:
                    child.backoff_s = BACKOFF_FIRST_S
                child.restart_at = now + child.backoff_s
                log.warning("node_exited", node=child.name, kind=child.config.kind, exit_code=proc.returncode, restart_in_s=child.backoff_s)
                child.backoff_s = min(BACKOFF_MAX_S, child.backoff_s * 2)
            if child.restart_at is not None and now >= child.restart_at and not self.stopping.is_set():
                child.restarts += 1
                self._spawn(child)
                log.warning("node_restarted", node=child.name, kind=child.config.kind, restarts=child.restarts, pid=child.proc.pid if child.proc else None)

    def run(self) -> None:
        """Supervise until `stopping` is set, then stop every node in reverse order."""
        try:
            self.start()
            while not self.stopping.wait(POLL_S):
                self.check_once()
        finally:
            self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for kind in reversed(START_ORDER):
            group = [c for c in self.children if c.config.kind == kind and c.proc is not None and c.proc.poll() is None]
            for child in group:
                assert child.proc is not None
                child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for child in group:
                assert child.proc is not None
                try:
                    child.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("node_killed", node=child.name, why=f"still running {STOP_TIMEOUT_S} s after SIGTERM")
                    child.proc.kill()
                    child.proc.wait()
                log.info("node_stopped", node=child.name, kind=kind, exit_code=child.proc.returncode)
                NodeLayout(child.home).pid_file.unlink(missing_ok=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def install_stop_signals(supervisor: Supervisor) -> None:
    """SIGINT (Ctrl-C) and SIGTERM ask the supervisor to stop the nodes in order."""

    def handler(signum: int, frame: object) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
