"""Children of a killed run: find them by their pid files and end them before starting again.

An embedded network with peer processes writes `run/<node>.pid` (see `layout`) for every
child it starts and removes it when the child has stopped. When the parent is killed
(SIGKILL, OOM), its children outlive it for a while, still holding their block stores
("open for writing elsewhere"). The next run ends them first: SIGTERM, then SIGKILL after
ORPHAN_TERM_WAIT_S, and only a pid whose command line is really one of our peer processes
for this data directory (a pid the system reused for something else is left alone).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import structlog

from ledger.node.layout import NetworkLayout

log = structlog.get_logger("orphans")

PEER_PROCESS_MODULE = "ledger.node.peer_process"
ORPHAN_TERM_WAIT_S = 5.0  # an orphan asked to stop (SIGTERM) gets this long, then SIGKILL
ORPHAN_KILL_WAIT_S = 10.0  # after SIGKILL, how long to wait for it to be gone
ORPHAN_POLL_S = 0.02


def write_pid_file(layout: NetworkLayout, node_id: str, pid: int) -> None:
    """Record a started child (the next run finds it if this one is killed)."""
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.pid_file(node_id).write_text(f"{pid}\n")


def remove_pid_file(layout: NetworkLayout, node_id: str) -> None:
    layout.pid_file(node_id).unlink(missing_ok=True)


def end_orphans(layout: NetworkLayout) -> list[int]:
    """End every still-running child of an earlier run of this network; returns their pids.
    The caller holds the network lock, so no live run owns these pid files."""
    ended = []
    for node_id in _recorded_nodes(layout):
        path = layout.pid_file(node_id)
        pid = _read_pid(path)
        if pid is not None and is_our_peer_process(pid, layout):
            log.warning("orphan_found", node=node_id, pid=pid, action="ending it")
            _end(pid)
            ended.append(pid)
        path.unlink(missing_ok=True)
    return ended


def is_our_peer_process(pid: int, layout: NetworkLayout) -> bool:
    """The pid runs `ledger.node.peer_process` for this data directory (and is not a zombie)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _running(pid) and PEER_PROCESS_MODULE.encode() in argv and str(layout.root.resolve()).encode() in argv


def _recorded_nodes(layout: NetworkLayout) -> list[str]:
    if not layout.run_dir.is_dir():
        return []
    return sorted(p.name.removesuffix(".pid") for p in layout.run_dir.glob("*.pid"))


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split(" ", 1)[0] != "Z"


def _end(pid: int) -> None:
    for sig, wait_s in ((signal.SIGTERM, ORPHAN_TERM_WAIT_S), (signal.SIGKILL, ORPHAN_KILL_WAIT_S)):
        try:
            os.kill(pid, sig)
            if sig == signal.SIGTERM:
                os.kill(pid, signal.SIGCONT)  # a stopped orphan acts on SIGTERM only once it runs
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _running(pid):
                log.info("orphan_ended", pid=pid, signal=sig.name)
                return
            time.sleep(ORPHAN_POLL_S)
    log.error("orphan_not_ended", pid=pid, waited_s=ORPHAN_TERM_WAIT_S + ORPHAN_KILL_WAIT_S)
