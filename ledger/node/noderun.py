"""`gridledger node run --home NODE_DIR`: one node of the networked layout, from its directory.

Everything comes from the directory (`node.json`, the node's own keys, the genesis block),
so the directory can be copied to the machine that runs the node. The node is fail-stop:
when its work loop dies the process exits non-zero (a supervisor restarts it). A NATS
server node replaces this process with nats-server (same pid, its own signal handling).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ledger.core.errors import ConfigError
from ledger.node.layout import NodeLayout
from ledger.node.natsrefresh import refresh_server_config
from ledger.node.nodeconf import NodeConfig, load_node_config
from ledger.node.nodelock import hold_node_lock
from ledger.node.ports import check_ports_free, node_listens
from ledger.transport.nats_cluster import server_binary

RUNNABLE_KINDS = ("nats", "orderer", "peer", "console")  # kinds `run_node` can run in this build

# The console is the web application's (`webapp`), which the ledger does not import: the
# `gridledger` console script registers how to run it (webapp.cli).
ConsoleRunner = Callable[[Path, NodeConfig, str | None, int | None], int]
_console_runner: list[ConsoleRunner] = []


def register_console_runner(runner: ConsoleRunner) -> None:
    _console_runner[:] = [runner]


def write_pid(home: Path) -> None:
    """The node's pid, for `gridledger status` (removed on a clean stop, stale after a crash)."""
    path = NodeLayout(home).pid_file
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(path)


def read_pid(home: Path) -> int | None:
    try:
        return int(NodeLayout(home).pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def run_node(home: Path, *, console_host: str | None = None, console_port: int | None = None) -> int:
    """Run the node whose directory is `home` until it stops; the process exit code."""
    home = home.resolve()
    config = load_node_config(home)
    lock = hold_node_lock(home, config.name)  # NETWORK_BUSY if it runs already; held until this process ends
    check_ports_free(node_listens(home, config, console_host=console_host, console_port=console_port))
    if config.kind == "nats":
        os.set_inheritable(lock, True)  # nats-server keeps the lock
        exec_nats_server(home, config)
    if config.kind == "orderer":
        from ledger.node.orderer_node import run_orderer

        return _with_pid_file(home, lambda: run_orderer(home, config))
    if config.kind == "peer":
        from ledger.node.peer_node import run_peer

        return _with_pid_file(home, lambda: run_peer(home, config))
    if config.kind == "console":
        if not _console_runner:
            raise ConfigError(f"{config.name}: a console node runs from the `gridledger` console script (webapp.cli)")
        runner = _console_runner[0]
        return _with_pid_file(home, lambda: runner(home, config, console_host, console_port))
    raise ConfigError(f"{config.name}: kind {config.kind!r} cannot run from this build yet")


def _with_pid_file(home: Path, run: Callable[[], int]) -> int:
    """`run()`'s exit code, with the node's pid file there while it runs (status and `stop`
    find the process by it) and removed however it ends."""
    write_pid(home)
    try:
        return run()
    finally:
        NodeLayout(home).pid_file.unlink(missing_ok=True)


def exec_nats_server(home: Path, config: NodeConfig) -> None:
    """Become nats-server with the node's config (paths in it are relative to `home`)."""
    if not config.server_config_file:
        raise ConfigError(f"{config.name}: node.json names no server_config_file")
    server_config = home / config.server_config_file
    if not server_config.exists():
        raise ConfigError(f"{server_config} is missing")
    try:
        refresh_server_config(server_config, config.channel)  # an upgraded build's new subjects
    except (OSError, ValueError) as error:
        raise ConfigError(f"{server_config}: cannot bring its permissions up to date: {error}") from error
    binary = server_binary()
    os.chdir(home)
    write_pid(home)
    os.execv(binary, [binary, "-c", str(server_config)])
