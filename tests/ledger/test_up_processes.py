"""What an embedded `gridledger up` spawns, and what a killed one leaves behind.

The orderer and the console run inside the `up` process itself; its only children are the
peer processes, each with a pid file. So when `up` is SIGKILLed, everything the orderer and
the console held (the network lock, the orderer's block store lock, the console's database,
the listening port) goes with it, and the only orphans are peers, which the next run ends
from their pid files. A second `up` at once, on the same port, starts. A damaged peer makes
`up` refuse with STORAGE_CORRUPT naming `gridledger repair`, without a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from netkit import PYTHON, ROOT
from test_cli_errors import free_port
from test_orderer_repair import flip
from test_tamper_and_crash import populate, record_location

from ledger.node.layout import NetworkLayout
from ledger.node.orphans import is_our_peer_process
from ledger.node.stopsignals import stop_signals_deferred
from ledger.storage.blockstore import RECORD_HEADER

UP_WAIT_S = 180.0  # four peer processes start and the console opens, on a loaded machine
STOP_WAIT_S = 60.0


def _up(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([PYTHON, "-m", "webapp.cli", "up", "--data", str(data), "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + UP_WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"up did not answer /healthz within {UP_WAIT_S} s")


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def _pid_files(data: Path) -> set[int]:
    return {int(p.read_text()) for p in NetworkLayout(data).run_dir.glob("*.pid")}


def test_a_killed_up_leaves_only_peer_orphans_and_a_second_up_starts_at_once(network_dir: Path) -> None:
    layout = NetworkLayout(network_dir)
    port = free_port()
    first = _up(network_dir, port)
    second = None
    try:
        _healthy(port, first)
        children = _descendants(first.pid)
        peers = _pid_files(network_dir)
        assert len(peers) == 4 and children == peers, (children, peers)  # nothing but the peers runs apart
        assert all(is_our_peer_process(pid, layout) for pid in peers)
        first.kill()
        first.wait(STOP_WAIT_S)
        second = _up(network_dir, port)  # same port, same directory, at once
        _healthy(port, second)
        assert not any(is_our_peer_process(pid, layout) for pid in peers), "an orphan of the killed run survived"
        assert _pid_files(network_dir) == _descendants(second.pid) and len(_pid_files(network_dir)) == 4
        second.send_signal(signal.SIGINT)
        assert second.wait(STOP_WAIT_S) == 0, second.communicate()
        assert not _pid_files(network_dir), "a clean stop leaves no pid files"
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_sigterm_stops_up_like_ctrl_c(network_dir: Path) -> None:
    """What systemd or `docker stop` sends: the console shuts down, the peers are stopped and
    their pid files removed, exit 0 (uvicorn re-raised SIGTERM after its shutdown, and with
    Python's default the process died before closing the network, leaving the peers behind)."""
    layout = NetworkLayout(network_dir)
    port = free_port()
    up = _up(network_dir, port)
    try:
        _healthy(port, up)
        peers = _pid_files(network_dir)
        assert len(peers) == 4
        up.send_signal(signal.SIGTERM)
        assert up.wait(STOP_WAIT_S) == 0, up.communicate()
        assert not _pid_files(network_dir), "a SIGTERM stop leaves no pid files"
        assert not any(is_our_peer_process(pid, layout) for pid in peers), "a peer outlived up"
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_sigterm_during_start_up_stops_the_peers_started_so_far(network_dir: Path) -> None:
    """SIGTERM while `up` is still starting its peer processes (systemd stopping a unit that
    is starting). Before, the handler was installed only once the network was open: Python's
    default killed `up` (exit -15), its peers died on a broken pipe with a traceback on its
    stderr and their pid files stayed."""
    layout = NetworkLayout(network_dir)
    up = _up(network_dir, free_port())
    try:
        deadline = time.monotonic() + UP_WAIT_S
        while not _pid_files(network_dir):  # the first peer process is started: the rest are starting
            assert up.poll() is None and time.monotonic() < deadline, up.communicate()
            time.sleep(0.005)
        peers = _pid_files(network_dir)
        up.send_signal(signal.SIGTERM)
        out, err = up.communicate(timeout=STOP_WAIT_S)
        assert up.returncode == 0, (out, err[-2000:])
        assert b"Traceback" not in err, err[-2000:]
        assert not _pid_files(network_dir), "a stop during start-up leaves no pid files"
        assert not any(is_our_peer_process(pid, layout) for pid in peers), "a peer outlived up"
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_a_stop_signal_during_a_peer_start_is_raised_once_the_block_ends() -> None:
    """What keeps a peer being started out of the clean-up's blind spot (see stopsignals)."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("handled"))
    try:
        with stop_signals_deferred():
            signal.raise_signal(signal.SIGTERM)
            seen.append("registered")
        assert seen == ["registered", "handled"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_up_with_a_damaged_peer_refuses_naming_the_repair_command(network_dir: Path) -> None:
    height = populate(network_dir)
    path, offset, length = record_location(NetworkLayout(network_dir).blocks_dir("peer0.Org2"), height - 1)
    flip(path, offset + RECORD_HEADER.size + length // 2, 0x08)
    up = _up(network_dir, free_port())
    out, err = up.communicate(timeout=UP_WAIT_S)
    assert up.returncode == 1, (out, err[-2000:])
    assert b"Traceback" not in out + err
    refusal = json.loads(out)
    assert refusal["code"] == "STORAGE_CORRUPT" and f"gridledger repair --data {network_dir} --peer peer0.Org2" in refusal["message"]
    assert not _pid_files(network_dir), "the refused start left no peer process behind"
