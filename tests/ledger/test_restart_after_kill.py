"""An immediate restart after a killed run: the new run ends its predecessor's orphaned peer
processes (found by their pid files under run/) and starts, with no "open for writing
elsewhere". One orphan is SIGSTOPped, so it would hold its block store forever: it needs
SIGTERM and, when that does not end it in time, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from netkit import PYTHON, ROOT, submit, wait_in_sync

from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from ledger.node.orphans import is_our_peer_process

STARTED_WAIT_S = 120.0

PARENT = """
import sys
from ledger.node.network import Network
from netkit import submit
net = Network.open(sys.argv[1], peer_processes=True)
alice = net.enroll("Org1", "alice")
submit(net, alice, "userRegister", "Alice", "A")
print("ready", flush=True)
n = 0
while True:  # keep the peers busy until killed
    n += 1
    submit(net, alice, "userTopup", "A", 1)
"""


def test_open_right_after_the_parent_was_killed_ends_the_orphans_and_starts(network_dir: Path) -> None:
    layout = NetworkLayout(network_dir)
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path(__file__).parent)}
    parent = subprocess.Popen([PYTHON, "-c", PARENT, str(network_dir)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # a few top-ups in flight (not awaiting a condition: any moment will do)
        pid_files = sorted(layout.run_dir.glob("*.pid"))
        orphans = [int(p.read_text()) for p in pid_files]
        assert len(orphans) == 4 and all(is_our_peer_process(pid, layout) for pid in orphans)
        os.kill(orphans[0], signal.SIGSTOP)  # one orphan will not go by itself
        parent.kill()
        parent.wait()
    finally:
        if parent.poll() is None:
            parent.kill()
    started = time.monotonic()
    with Network.open(network_dir, peer_processes=True) as net:  # at once: no "open for writing elsewhere"
        assert time.monotonic() - started < STARTED_WAIT_S
        assert not any(is_our_peer_process(pid, layout) for pid in orphans), "an orphan survived"
        assert all(p.alive for p in net.peers)
        new_pids = {int(p.read_text()) for p in layout.run_dir.glob("*.pid")}
        assert len(new_pids) == 4 and not new_pids & set(orphans)
        bob = net.enroll("Org2", "bob")
        assert submit(net, bob, "userRegister", "Bob", "B").code.name == "VALID"
        wait_in_sync(net)
    assert not list(layout.run_dir.glob("*.pid")), "a clean stop leaves no pid files"
