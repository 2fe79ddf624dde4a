"""One process per node directory, and one supervisor per data directory on a machine.

A second `gridledger node run --home DIR` of a running node (or a second `up --networked`
of a running data directory) used to start anyway: it overwrote the running node's pid
file (so `status` lost it, and the second run's clean stop deleted it), a second NATS
server opened the same JetStream store before failing on its ports, and the supervisor
restarted the refused copies forever. Now the node holds an exclusive flock on
`node.lock` in its directory for its whole life (a NATS server keeps it across the exec
into nats-server), and the refusal is NETWORK_BUSY before anything is written. The kernel
drops a flock with its process, so a SIGKILLed node leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from ledger.core.errors import LedgerError
from ledger.node.layout import NetworkLayout, NodeLayout


def try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path`, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _holder(pid_file: Path) -> str:
    try:
        return pid_file.read_text().strip() or "?"
    except OSError:
        return "?"


def hold_node_lock(home: Path, name: str) -> int:
    """Lock the node directory for this process (the fd stays open while it runs);
    NETWORK_BUSY when the node already runs from it."""
    fd = try_lock(NodeLayout(home).lock_file)
    if fd is None:
        raise LedgerError("NETWORK_BUSY", f"{name} already runs from {home} (pid {_holder(NodeLayout(home).pid_file)}); stop that process first")
    return fd


def running_nodes(homes: Sequence[Path]) -> list[str]:
    """The node directories among `homes` that a live process runs (their lock is held)."""
    busy = []
    for home in homes:
        if not NodeLayout(home).lock_file.exists():
            continue
        fd = try_lock(NodeLayout(home).lock_file)
        if fd is None:
            busy.append(f"{home.name} (pid {_holder(NodeLayout(home).pid_file)})")
        else:
            os.close(fd)
    return busy


def hold_supervisor_lock(layout: NetworkLayout, homes: Sequence[Path]) -> int:
    """Lock the data directory for one supervisor (`up --networked`, a bench's own nodes);
    NETWORK_BUSY when another one runs it or any of its nodes already runs."""
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    fd = try_lock(layout.supervisor_lock_file)
    if fd is None:
        raise LedgerError("NETWORK_BUSY", f"the consortium in {layout.root} is already supervised by another process (`up --networked`); stop it with Ctrl-C first")
    busy = running_nodes(homes)
    if busy:
        os.close(fd)
        raise LedgerError("NETWORK_BUSY", f"nodes of {layout.root} already run: {', '.join(busy)}; stop them first (an earlier `up` killed with -9 leaves its nodes running)")
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd
