"""Faults of the networked consortium under load (real NATS, orderer and peer nodes).

SIGKILL of a peer, of a NATS server or of an orderer while clients submit: no transaction
a client saw VALID is lost (every peer has it, at the same block), the killed node is
restarted (a peer catches up by replaying), the peers converge on one height and commit
hash, and `verify` passes. The test counts what it
tried and what held, and says it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from nodekit import NodeProcesses, init_networked, node_dirs, node_homes
from test_gateway_nats import submit, wait_all_alive, wait_in_sync

from ledger.core.codes import ValidationCode
from ledger.core.errors import LedgerError
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.tools.netverify import verify_networked

CLIENTS = 4
TOPUPS_PER_CLIENT = 12
VICTIMS = ["peer1.Org2", "nats1.OrdererOrg", "orderer0.OrdererOrg"]  # a peer, a NATS server, an orderer
KILL_AFTER_VALID = 8  # acknowledged transactions before the peer is killed


@pytest.mark.parametrize("victim_name", VICTIMS)
def test_sigkill_of_a_node_under_load_loses_no_acknowledged_transaction(tmp_path: Path, nodes: NodeProcesses, victim_name: str) -> None:
    data = init_networked(tmp_path)
    nodes.start_nats(data)
    for kind in ("orderer", "peer"):
        for home in node_homes(data, kind):
            nodes.start(home)
    victim = next(h for h in node_dirs(data) if load_node_config(h).name == victim_name)
    acknowledged: list[tuple[str, int, int]] = []  # (tx id, block, amount) seen VALID
    refused: list[str] = []
    lock = threading.Lock()
    with Network.open(data) as net:
        wait_all_alive(net)
        users = [net.enroll("Org1" if i % 2 == 0 else "Org2", f"load{i}") for i in range(CLIENTS)]
        for i, user in enumerate(users):
            _, registered, code = submit(net, user, "userRegister", f"Load{i}", f"L{i}")
            assert code == ValidationCode.VALID
        wait_in_sync(net, registered + 1)  # every endorser knows every user before the load

        def client(i: int) -> None:
            for n in range(TOPUPS_PER_CLIENT):
                try:
                    tx_id, block, code = submit(net, users[i], "userTopup", f"L{i}", str(n + 1))
                except LedgerError as exc:  # refused or timed out: not acknowledged, may not count
                    with lock:
                        refused.append(exc.code)
                    continue
                assert code == ValidationCode.VALID
                with lock:
                    acknowledged.append((tx_id, block, n + 1))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < KILL_AFTER_VALID and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(nodes.procs[victim].pid, signal.SIGKILL)
        nodes.procs[victim].wait()
        killed_at = len(acknowledged)
        for t in threads:
            t.join(240)
        nodes.start(victim)  # restarted: a peer replays what it missed, a server or orderer rejoins
        tip = max(b for _, b, _ in acknowledged)
        converged = wait_in_sync(net, tip + 1)
        assert len(converged) == 1
        held = sum(1 for tx_id, block, _ in acknowledged if all((loc := p.tx_location(tx_id)) is not None and loc[0] == block and loc[2] == 0 for p in net.peers))
        reader = net.gateway(net.client_identity("Org1", "reader"))
        balances = {f"L{i}": reader.evaluate_json("queryUser", [f"L{i}"])["Token"] for i in range(CLIENTS)}
    tried = CLIENTS * TOPUPS_PER_CLIENT
    print(f"SIGKILL of {victim_name} under load: tried {tried}, acknowledged {len(acknowledged)} ({killed_at} before the kill), refused {len(refused)} {sorted(set(refused))}, held on every peer {held}")
    assert killed_at < len(acknowledged), "load went on after the kill"
    assert held == len(acknowledged) and len(acknowledged) >= tried // 2
    # Balances hold at least every acknowledged top-up (a refused one may still have committed).
    assert sum(balances.values()) >= sum(a for _, _, a in acknowledged)
    report = verify_networked(data)
    assert report.ok, report.problems
