"""`gridledger bench --networked`: the networked topology's nodes for the length of a run.

When the data directory's nodes are not running already (`up --networked`), the bench
supervises the NATS servers, orderer nodes and peer nodes itself (each its own process, as
under `up --networked`, without the console), waits until every peer is heard, and stops
them in order afterwards.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from ledger.core.errors import LedgerError
from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.node.noderun import read_pid
from ledger.node.supervisor import Supervisor, networked_homes, pid_alive

BENCH_KINDS = ("nats", "orderer", "peer")
READY_S = 120.0
READY_POLL_S = 0.1
STATUS_WAIT_S = 5.0  # one status request's answer while waiting for readiness
COMMAND = [sys.executable, "-c", "from ledger.tools.cli import app; app()"]


class BenchNodes:
    """A supervisor on a thread of its own."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self._thread = threading.Thread(target=supervisor.run, name="bench-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.supervisor.stopping.set()
        self._thread.join()


def start_nodes_unless_running(data: Path) -> BenchNodes | None:
    """Start the nodes (None when every one already runs, e.g. under `up --networked`)."""
    homes = networked_homes(NetworkLayout(data))
    if all(pid_alive(read_pid(home)) for home in homes if load_node_config(home).kind in BENCH_KINDS):
        return None
    nodes = BenchNodes(Supervisor(data, COMMAND, kinds=BENCH_KINDS))
    nodes.start()
    return nodes


def wait_ready(net: Network, timeout_s: float = READY_S) -> None:
    """Every peer heard and answering requests, and the ordering service heard (or
    NODES_NOT_READY). A heartbeat alone is not enough: it proves the peer's messages reach
    us, not that our requests reach its subjects (a subscription made on another server is
    routed a moment later); a request sent before then would have marked the peer gone and
    failed the first transactions with NO_ENDORSERS."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(p.alive and p.height >= 1 for p in net.peers) and getattr(net.orderer, "alive", True) and _all_answer(net):
            return
        time.sleep(READY_POLL_S)
    raise LedgerError("NODES_NOT_READY", f"the networked nodes were not all up within {timeout_s} s: {[(p.name, p.alive) for p in net.peers]}")


def _all_answer(net: Network) -> bool:
    """Every peer answers a status request now (peers without `refresh` are local)."""
    for peer in net.peers:
        refresh = getattr(peer, "refresh", None)
        if refresh is None:
            continue
        try:
            refresh().result(STATUS_WAIT_S)
        except Exception:  # not reachable yet: asked again at the next poll
            return False
    return True
