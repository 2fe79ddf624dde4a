"""The gateway over NATS: a networked data directory opened as a `Network` whose peers and
ordering service are other processes (`RemotePeer`, `RemoteOrderer`), and the CLI on it.

Peers are real `gridledger node run` processes on a real 3-server cluster; the ordering
service is the tests' stand-in (the ledger's own sealing code behind `broadcast`) until the
orderer node runs. Endorsements are asked of the peers in parallel over NATS, the commit
outcome comes from the commit peer's events, and every peer ends on one commit hash.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodekit import NodeProcesses, cli_json, init_networked, node_homes
from peerkit import StandInOrderer

from ledger.core.codes import ValidationCode
from ledger.core.identity import SigningIdentity
from ledger.core.messages import compute_tx_id
from ledger.gateway import EndorsementError, creator_party, make_signoff
from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.transport.nats_remote import RemotePeer

LIVE_S = 60.0


def submit(net: Network, user: SigningIdentity, function: str, *args: str) -> tuple[str, int, ValidationCode]:
    gateway = net.gateway(user)
    invocation = gateway.new_invocation(function, list(args))
    tx_id = compute_tx_id(invocation)
    result = gateway.submit(invocation, [creator_party(user), make_signoff("approval", net.service_identity(net.approver_org), tx_id)])
    return result.tx_id, result.block, result.code


def wait_all_alive(net: Network) -> None:
    deadline = time.monotonic() + LIVE_S
    while time.monotonic() < deadline:
        if all(p.alive for p in net.peers) and len({p.height for p in net.peers}) == 1 and net.peers[0].height >= 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"peers not all alive: {[(p.name, p.alive, p.height) for p in net.peers]}")


def wait_in_sync(net: Network, height: int) -> set[tuple[int, str]]:
    deadline = time.monotonic() + LIVE_S
    seen: set[tuple[int, str]] = set()
    while time.monotonic() < deadline:
        seen = {(s.height, s.commit_hash) for s in net.status()}
        if len(seen) == 1 and next(iter(seen))[0] >= height:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"peers not in sync at {height}: {seen}")


@pytest.fixture
def running(tmp_path: Path, nodes: NodeProcesses) -> Iterator[tuple[Path, StandInOrderer]]:
    data = init_networked(tmp_path)
    nodes.start_nats(data)
    orderer = StandInOrderer(NetworkLayout(data).node_dir("orderer0.OrdererOrg"))
    orderer.start()
    for home in node_homes(data, "peer"):
        nodes.start(home)
    try:
        yield data, orderer
    finally:
        orderer.stop()


def test_submit_and_query_through_the_gateway_over_nats(running: tuple[Path, StandInOrderer]) -> None:
    data, orderer = running
    with Network.open(data) as net:
        assert all(isinstance(p, RemotePeer) for p in net.peers) and len(net.peers) == 4
        wait_all_alive(net)
        alice = net.enroll("Org1", "alice")
        tx_id, block, code = submit(net, alice, "userRegister", "Alice", "A")
        assert code == ValidationCode.VALID and block >= 1
        _, topped, code = submit(net, alice, "userTopup", "A", "25")
        assert code == ValidationCode.VALID and topped > block
        in_sync = wait_in_sync(net, topped + 1)
        assert len(in_sync) == 1
        reader = net.gateway(net.client_identity("Org2", "reader"))
        assert reader.evaluate_json("queryUser", ["A"])["Token"] == 25
        assert net.gateway(alice).commit_status(tx_id) == (block, ValidationCode.VALID)
        # A chaincode refusal crosses NATS with its code, and nothing is ordered.
        before = orderer.accepted
        with pytest.raises(EndorsementError) as refused:
            submit(net, alice, "userTopup", "NOBODY", "1")
        assert refused.value.code and orderer.accepted == before
        # Reads tools use: blocks, history, each peer's own chain check.
        peer = net.peers[2]
        assert peer.tx_location(tx_id) == (block, 0, 0)
        with pytest.raises(IndexError):
            peer.block(10_000)
        assert all(not net.peers[i].verify_chain().problems for i in range(4))
        assert len({p.state_digest() for p in net.peers}) == 1


def test_cli_invoke_and_query_work_against_the_running_networked_layout(running: tuple[Path, StandInOrderer]) -> None:
    data, _ = running
    with Network.open(data) as net:
        wait_all_alive(net)
    code, out = cli_json("invoke", "--data", str(data), "--as", "Org1/bob", "userRegister", "Bob", "B")
    assert code == 0 and out["code"] == "VALID", out
    code, out = cli_json("invoke", "--data", str(data), "--as", "Org1/bob", "userTopup", "B", "9")
    assert code == 0 and out["code"] == "VALID", out
    code, out = cli_json("query", "--data", str(data), "queryUser", "B")
    assert code == 0 and out["result"]["Token"] == 9, out
    code, out = cli_json("invoke", "--data", str(data), "--as", "Org1/bob", "userTopup", "NOBODY", "1")
    assert code == 1 and out["code"] != "NETWORK_BUSY", out


def test_a_hung_commit_peer_node_costs_a_bounded_wait_over_nats(running: tuple[Path, StandInOrderer], nodes: NodeProcesses) -> None:
    """The gateway's commit peer node SIGSTOPped (hung, its process still there): the client
    still gets the transaction's real outcome, from the other peers, well within the submit
    limit (by the stall limit, or by the peer's heartbeat going stale, whichever comes first)."""
    data, _ = running
    with Network.open(data) as net:
        wait_all_alive(net)
        alice = net.enroll("Org1", "alice")
        _, block, _ = submit(net, alice, "userRegister", "Alice", "A")
        wait_in_sync(net, block + 1)
        home = next(p for p in net.gateway(alice).endorsing_set(net.chaincode_name) if p.org == "Org1")
        gateway = net.gateway(alice, commit_peer=home)
        assert home in gateway.endorsing_set(net.chaincode_name)  # the submit's endorsement goes to the other Org1 peer
        gateway.commit_stall_s = 3.0
        process = next(p for h, p in nodes.procs.items() if load_node_config(h).name == home.name)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            invocation = gateway.new_invocation("userTopup", ["A", "9"])
            tx_id = compute_tx_id(invocation)
            started = time.monotonic()
            result = gateway.submit(invocation, [creator_party(alice), make_signoff("approval", net.service_identity(net.approver_org), tx_id)], timeout_s=30)
            took = time.monotonic() - started
            assert result.code == ValidationCode.VALID and took < 20, took
            assert gateway.waiter.peer is not home
        finally:
            os.kill(process.pid, signal.SIGCONT)
        print(f"hung commit peer over NATS: outcome VALID after {took:.1f} s")
