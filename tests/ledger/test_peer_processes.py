"""The embedded network with each peer in its own OS process (`Network.open(peer_processes=True)`).

The paper's story runs in this layout too (test_paper_story, `any_net`); here: the peers
really are other processes, they answer every call a gateway, the console and `verify`
make, a killed peer process is skipped by gateways and comes back whole on the next start.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netkit import balance, block_of, signoffs_for, submit, wait_in_sync

from ledger.core.identity import SigningIdentity
from ledger.core.messages import compute_tx_id
from ledger.core.statekeys import namespaced
from ledger.execute.endorser import EndorserRefusal
from ledger.gateway import EndorsementError, SubmitResult
from ledger.node.network import Network
from ledger.tools.verify import verify_network
from ledger.transport.pipe_peer import PipePeer
from ledger.transport.protocols import PeerService


@pytest.fixture
def proc_net(network_dir: Path) -> Iterator[Network]:
    network = Network.open(network_dir, peer_processes=True)
    yield network
    network.close()


def _pids(net: Network) -> list[int]:
    return [pid for p in net.peers if isinstance(p, PipePeer) and (pid := p.pid) is not None]


def test_each_peer_runs_in_its_own_process_and_serves_every_call(proc_net: Network) -> None:
    net = proc_net
    pids = _pids(net)
    assert len(pids) == 4 and len(set(pids)) == 4 and os.getpid() not in pids

    alice = net.enroll("Org1", "alice")
    registered = submit(net, alice, "userRegister", "Alice", "A")
    submit(net, alice, "userTopup", "A", 40)
    height, commit_hash = wait_in_sync(net)
    assert height == registered.block + 2 and balance(net, "A") == 40

    peer = net.peers[3]
    assert block_of(peer, registered.block).header.number == registered.block
    assert peer.tx_location(registered.tx_id) == (registered.block, 0, 0)
    history = peer.history(namespaced("powerdata", "user/A"))
    assert [entry.tx_id for entry in history][:1] == [registered.tx_id] and len(history) == 2
    assert len({p.state_digest() for p in net.peers}) == 1

    # A refusal crosses the process boundary with its code.
    with pytest.raises(EndorsementError) as caught:
        submit(net, alice, "userTopup", "NOBODY", 5)
    assert caught.value.code == "USER_NOT_FOUND"

    report = verify_network(net.data_dir, live_peers=net.peers)
    assert report.ok, report.problems
    assert {(c.height, c.commit_hash) for c in report.chains[1:]} == {(height, commit_hash)}


def test_a_killed_peer_process_is_skipped_then_catches_up_on_restart(proc_net: Network, network_dir: Path) -> None:
    net = proc_net
    bob = net.enroll("Org2", "bob")
    submit(net, bob, "userRegister", "Bob", "B")
    victim = next(p for p in net.peers if p.name == "peer1.Org2")
    assert isinstance(victim, PipePeer) and victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait_gone(10)
    assert not victim.alive
    with pytest.raises(EndorserRefusal) as caught:
        victim.block(0)
    assert caught.value.code == "PEER_UNAVAILABLE"

    # Gateways endorse with the org's other peer; the three live peers keep committing.
    live = [p for p in net.peers if p is not victim]
    for amount in (1, 2, 3):
        result = submit_to_live_peers(net, bob, amount, live)
    assert {p.height for p in live} == {result.block + 1}
    assert victim.height <= result.block
    net.close()

    # On the next start the killed peer replays what it missed from the orderer's blocks.
    with Network.open(network_dir, peer_processes=True) as again:
        wait_in_sync(again)
        assert balance(again, "B") == 6
        assert len({p.state_digest() for p in again.peers}) == 1
        assert verify_network(again.data_dir, live_peers=again.peers).ok


def submit_to_live_peers(net: Network, user: SigningIdentity, amount: int, live: list[PeerService]) -> SubmitResult:
    """`netkit.submit`, waiting for the live peers only (the killed one never commits again)."""
    gateway = net.gateway(user)
    invocation = gateway.new_invocation("userTopup", ["B", str(amount)])
    result = gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [user]))
    deadline = time.monotonic() + 20
    while any(p.height <= result.block for p in live) and time.monotonic() < deadline:
        time.sleep(0.005)
    return result
