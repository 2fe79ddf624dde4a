"""Fail-stop: a node whose work loop dies says so (logged, alive False, the peer process
exits non-zero, a dead orderer refuses broadcasts), and a slow or dead subscriber never
blocks the ordering service (its deliveries are dropped; it catches up from its height).

The faults are real: a peer's state database loses its table under it (as a botched manual
repair would do), the orderer's block store is closed under its loop, a peer's commit
thread is held (its commit lock) while the network goes on.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from netkit import endorse, signoffs_for, submit, wait_in_sync

from ledger.core.codes import OrdererCode
from ledger.core.identity import SigningIdentity
from ledger.core.messages import compute_tx_id
from ledger.gateway import SubmitResult
from ledger.node.network import Network
from ledger.peer import peer as peer_module
from ledger.transport.pipe_peer import PipePeer

DEADLINE_S = 20.0


def _until(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.01)


def _break_state_table(net: Network, peer_name: str) -> None:
    """Another process renames the peer's state table: its next commit fails in the database."""
    path = net.layout.state_sqlite(peer_name)
    with sqlite3.connect(path, timeout=10) as conn:
        conn.execute("ALTER TABLE state RENAME TO state_gone")


def test_a_peer_whose_commit_loop_dies_is_marked_dead_and_the_network_goes_on(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    victim = next(p for p in net.peers if p.name == "peer1.Org2")
    assert victim.alive
    _break_state_table(net, victim.name)

    first = _topup(net, alice, 5)
    _until(lambda: not victim.alive, "the victim is marked dead")
    assert "state" in (getattr(victim, "failure", None) or "")
    # the other three keep committing, and gateways leave the dead peer out
    for amount in (6, 7):
        result = _topup(net, alice, amount)
        assert result.code.name == "VALID" and result.block > first.block
    _until(lambda: all(p.height == net.orderer.height for p in net.peers if p is not victim), "live peers in step")
    assert victim.height <= first.block
    assert net.orderer.alive


def test_a_peer_process_whose_commit_loop_dies_exits_non_zero(network_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with Network.open(network_dir, peer_processes=True) as net:
        alice = net.enroll("Org1", "alice")
        submit(net, alice, "userRegister", "Alice", "A")
        victim = next(p for p in net.peers if p.name == "peer1.Org2")
        assert isinstance(victim, PipePeer) and victim.alive
        _break_state_table(net, victim.name)
        _topup(net, alice, 5)
        assert victim.wait_gone(DEADLINE_S), "the peer process did not end"
        _until(lambda: victim.exit_code is not None, "exit status known")
        assert victim.exit_code not in (0, None) and not victim.alive
        result = _topup(net, alice, 6)
        assert result.code.name == "VALID"
    assert "peer_loop_died" in capfd.readouterr().err


def test_a_dead_orderer_loop_refuses_broadcasts(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    before = net.orderer.height
    net.orderer.store.close()  # the disk under the orderer goes away: its next append fails
    first = endorse(net, alice, "userTopup", "A", 5)
    assert net.orderer.broadcast(first.envelope).accepted  # the loop is still alive here
    _until(lambda: not net.orderer.alive, "the orderer is marked dead")
    refused = net.orderer.broadcast(endorse(net, alice, "userTopup", "A", 6).envelope)
    assert not refused.accepted and refused.code == OrdererCode.SERVICE_UNAVAILABLE
    assert "stopped" in refused.message
    assert net.orderer.height == before


def test_a_stalled_peer_never_blocks_the_orderer_and_catches_up(monkeypatch: pytest.MonkeyPatch, network_dir: Path) -> None:
    monkeypatch.setattr(peer_module, "DELIVER_QUEUE_MAX", 2)  # a tiny queue: it overflows after two blocks
    with Network.open(network_dir) as net:
        alice = net.enroll("Org1", "alice")
        submit(net, alice, "userRegister", "Alice", "A")
        victim = next(p for p in net.peers if p.name == "peer1.Org2")
        assert isinstance(victim, peer_module.Peer)
        stalled_at = victim.height
        submitted = 6
        with victim.commit_lock:  # its commit thread waits here while blocks keep coming
            for amount in range(1, submitted + 1):
                result = _topup(net, alice, amount, timeout_s=10)
                assert result.code.name == "VALID"
            assert net.orderer.height >= stalled_at + submitted and victim.height == stalled_at
        _until(lambda: victim.height == net.orderer.height, "the stalled peer caught up")
        wait_in_sync(net)
        assert victim.alive


def _topup(net: Network, user: SigningIdentity, amount: int, timeout_s: float = DEADLINE_S) -> SubmitResult:
    """A top-up through a gateway, waiting only for its own commit peer (not for every peer)."""
    gateway = net.gateway(user)
    invocation = gateway.new_invocation("userTopup", ["A", str(amount)])
    return gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [user]), timeout_s=timeout_s)
