"""Bounded waits: a hung peer costs a gateway one endorsement limit, then it is left out; a
live `verify` reads a snapshot and never stops endorsement or commit; a pipe whose reader
stopped reading refuses a call after its limit instead of blocking the caller.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netkit import balance, endorse, signoffs_for, submit, wait_in_sync

from ledger.core.identity import SigningIdentity
from ledger.core.messages import compute_tx_id
from ledger.gateway import Gateway, SubmitResult
from ledger.node.network import Network
from ledger.transport.frames import FrameReader, FrameWriter, LinkTimeout
from ledger.transport.pipe_peer import PipePeer

DEADLINE_S = 30.0
VERIFY_LONG_S = 0.6  # a verify this long leaves room for endorsements and commits inside it
VERIFY_GROW_TX = 600
VERIFY_GROW_ROUNDS_MAX = 10
ENDORSE_LIMIT_S = 2.0  # the gateways' endorsement limit in these tests (the default is 30 s)
STALL_LIMIT_S = 3.0  # how long a silent commit peer is waited for here (the default is 5 s)


@pytest.fixture
def proc_net(network_dir: Path) -> Iterator[Network]:
    network = Network.open(network_dir, peer_processes=True)
    yield network
    network.close()


def _until(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.01)


def query_balance(net: Network, user: SigningIdentity) -> int:
    return balance(net, "A")


def _topup(gateway: Gateway, net: Network, user: SigningIdentity, amount: int) -> SubmitResult:
    invocation = gateway.new_invocation("userTopup", ["A", str(amount)])
    return gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [user]), timeout_s=DEADLINE_S)


def test_a_hung_peer_process_is_timed_out_and_left_out_then_catches_up(proc_net: Network) -> None:
    net = proc_net
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    wait_in_sync(net)
    gateway = net.gateway(alice)
    gateway.endorse_timeout_s = ENDORSE_LIMIT_S
    # Equal heights: the gateway rotates among an org's peers; the one it picks next is the victim.
    first_pick = next(p for p in gateway.endorsing_set(net.chaincode_name) if p.org == "Org2")
    victim = next(p for p in net.peers if p.org == "Org2" and p is not first_pick)
    assert isinstance(victim, PipePeer) and victim.pid is not None
    os.kill(victim.pid, signal.SIGSTOP)  # hung, not dead: the process is there and says nothing
    try:
        started = time.monotonic()
        result = _topup(gateway, net, alice, 1)
        took = time.monotonic() - started
        assert result.code.name == "VALID"
        assert ENDORSE_LIMIT_S <= took < ENDORSE_LIMIT_S + 10, took  # one limit spent on the victim, then others
        assert victim.name in net.suspects and victim.alive  # still alive: hung is not dead
        # Every gateway of the network now leaves it out: no more waiting, the network goes on.
        bob_gateway = net.gateway(alice)
        bob_gateway.endorse_timeout_s = ENDORSE_LIMIT_S
        for amount in (2, 3, 4):
            started = time.monotonic()
            assert _topup(bob_gateway, net, alice, amount).code.name == "VALID"
            assert time.monotonic() - started < ENDORSE_LIMIT_S
        others = [p for p in net.peers if p is not victim]
        _until(lambda: all(p.height == net.orderer.height for p in others), "the other peers keep up")
        assert victim.height < net.orderer.height
    finally:
        os.kill(victim.pid, signal.SIGCONT)
    _until(lambda: victim.height == net.orderer.height, "the woken peer caught up")
    wait_in_sync(net)


def test_a_hung_commit_peer_costs_a_bounded_wait_then_another_peer_gives_the_outcome(proc_net: Network) -> None:
    """The gateway's own commit peer is SIGSTOPped (hung, not dead): without a commit event
    from it for `commit_stall_s`, the gateway asks the other live peers by tx id and waits on
    one of them, so the client gets the real outcome instead of COMMIT_TIMEOUT."""
    net = proc_net
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    wait_in_sync(net)
    # The commit peer is one the submit's endorsement will not ask (each gateway rotates among
    # an org's equal peers: its first pick is the commit peer, its second goes to the other),
    # so only the commit wait can notice the hang.
    home = next(p for p in net.gateway(alice).endorsing_set(net.chaincode_name) if p.org == "Org1")
    gateway = net.gateway(alice, commit_peer=home)
    assert home in gateway.endorsing_set(net.chaincode_name)
    gateway.endorse_timeout_s = ENDORSE_LIMIT_S
    gateway.commit_stall_s = STALL_LIMIT_S
    assert isinstance(home, PipePeer) and home.pid is not None
    height_before = home.height
    os.kill(home.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = _topup(gateway, net, alice, 7)  # 30 s submit limit: COMMIT_TIMEOUT without failover
        took = time.monotonic() - started
        assert result.code.name == "VALID" and result.block >= height_before
        assert STALL_LIMIT_S <= took < STALL_LIMIT_S + 10, took  # one stall limit, not the 30 s submit limit
        assert home.height == height_before, "the stopped peer cannot have committed it"
        assert gateway.waiter.peer is not home and home.name in net.suspects and home.alive
        assert gateway.commit_status(result.tx_id) == (result.block, result.code)  # asked of the others only
        # A new gateway on the hung peer: it is a suspect now, so the gateway waits elsewhere
        # from the start and costs no stall limit.
        again = net.gateway(alice, commit_peer=home)
        again.endorse_timeout_s = ENDORSE_LIMIT_S
        started = time.monotonic()
        assert _topup(again, net, alice, 8).code.name == "VALID"
        assert time.monotonic() - started < STALL_LIMIT_S + ENDORSE_LIMIT_S
        assert again.waiter.peer is not home
    finally:
        os.kill(home.pid, signal.SIGCONT)
    _until(lambda: home.height == net.orderer.height, "the woken peer caught up")
    wait_in_sync(net)
    assert query_balance(net, alice) == 15


def test_endorsement_and_commit_go_on_while_a_long_verify_runs(proc_net: Network) -> None:
    net = proc_net
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    gateway = net.gateway(alice)
    checked = next(p for p in net.peers if p.name == "peer0.Org2")
    for _ in range(VERIFY_GROW_ROUNDS_MAX):  # a chain long enough that replaying it takes a while
        pending = []
        for _ in range(VERIFY_GROW_TX):
            invocation = gateway.new_invocation("userTopup", ["A", "1"])
            pending.append(gateway.submit_async(invocation, signoffs_for(net, compute_tx_id(invocation), [alice])))
        for p in pending:
            p.future.result(timeout=DEADLINE_S)
        wait_in_sync(net)
        checked.verify_chain()  # once first: the timed one then finds what the one below finds (signatures cached)
        started = time.monotonic()
        checked.verify_chain()
        if time.monotonic() - started >= VERIFY_LONG_S:  # how long depends on the machine's speed and load
            break
    height_before, _ = wait_in_sync(net)
    commits: list[float] = []
    checked.add_commit_listener(lambda event: commits.append(time.monotonic()))
    window: dict[str, float] = {}
    reports = []

    def run_verify() -> None:
        window["start"] = time.monotonic()
        reports.append(checked.verify_chain())
        window["end"] = time.monotonic()

    verifier = threading.Thread(target=run_verify)
    verifier.start()
    endorsed: list[float] = []
    org1 = next(p for p in net.peers if p.org == "Org1")
    while verifier.is_alive():
        prepared = endorse(net, alice, "userTopup", "A", 1, peers=[org1, checked])  # the verified peer endorses
        endorsed.append(time.monotonic())
        assert net.orderer.broadcast(prepared.envelope).accepted
        time.sleep(0.02)
    verifier.join()
    report = reports[0]
    inside = lambda times: [t for t in times if window["start"] < t < window["end"]]  # noqa: E731
    assert window["end"] - window["start"] > VERIFY_LONG_S / 2, "the verify was too short to show anything"
    assert inside(endorsed), "no endorsement by the verified peer while it verified"
    assert inside(commits), "no commit on the verified peer while it verified"
    assert report.problems == [] and report.height >= height_before  # every block it had when asked
    wait_in_sync(net)


def test_a_pipe_whose_reader_stopped_refuses_a_call_after_its_limit() -> None:
    read_fd, write_fd = os.pipe()
    writer = FrameWriter(write_fd, bounded=True)
    sent = 0
    try:
        with pytest.raises(LinkTimeout):
            while True:  # nobody reads: the pipe fills, then a send gives up after its limit
                started = time.monotonic()
                # frames under PIPE_BUF are written whole or not at all, as a proposal's call is
                writer.send(["call", sent, "endorse", [b"x" * 1000]], timeout_s=0.2)
                sent += 1
                assert time.monotonic() - started < 0.2 + 1
        assert sent > 0
        # The link is still whole: everything sent arrives intact once the reader reads.
        reader = FrameReader(read_fd)
        received = 0
        while received < sent:
            assert reader.receive()[1] == received
            received += 1
    finally:
        os.close(read_fd)
        os.close(write_fd)
