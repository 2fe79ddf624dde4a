"""The gateway's answers to peers that disagree and to commits that never come.

ENDORSEMENT_MISMATCH: endorsers whose results differ (one a block behind, say) are asked
again; a single disagreement costs a retry, a lasting one is refused with nothing ordered.
COMMIT_TIMEOUT: an ordered transaction whose commit is not seen in time is reported with
its id, never resubmitted; `commit_status` settles it once it commits.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

import msgspec
import pytest
from netkit import balance, signoffs_for, submit, wait_in_sync

from ledger.core.encoding import decode, encode
from ledger.core.identity import Identity, SigningIdentity
from ledger.core.messages import BroadcastResult, ProposalResponse, ResponsePayload, compute_tx_id
from ledger.gateway import CommitTimeout, EndorsementError, Gateway
from ledger.gateway.gateway import ENDORSE_ATTEMPTS_MAX
from ledger.node.network import Network
from ledger.transport.protocols import EndorserService


class Skewed:
    """A real peer whose first `skew` endorsements carry a different result (as a peer one
    block behind would compute); every call is counted."""

    def __init__(self, peer: EndorserService, skew: int) -> None:
        self.peer = peer
        self.skew = skew
        self.calls = 0

    @property
    def name(self) -> str:
        return self.peer.name

    @property
    def org(self) -> str:
        return self.peer.org

    @property
    def identity(self) -> Identity:
        return self.peer.identity

    @property
    def alive(self) -> bool:
        return self.peer.alive

    @property
    def height(self) -> int:
        return self.peer.height

    def evaluate(self, signed_proposal: bytes) -> bytes:
        return self.peer.evaluate(signed_proposal)

    def endorse(self, signed_proposal: bytes) -> Future[bytes]:
        self.calls += 1
        answer = self.peer.endorse(signed_proposal).result(timeout=10)
        if self.calls <= self.skew:
            response = decode(answer, ProposalResponse)
            payload = decode(response.payload, ResponsePayload)
            changed = msgspec.structs.replace(payload, result=payload.result + b" ")
            answer = encode(ProposalResponse(encode(changed), response.endorsement))
        future: Future[bytes] = Future()
        future.set_result(answer)
        return future


class BlackHole:
    """An ordering service that says yes and keeps the envelopes (a lost broadcast)."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []

    def broadcast(self, envelope: bytes) -> BroadcastResult:
        self.kept.append(envelope)
        return BroadcastResult(True)


def _skewed_gateway(net: Network, user: SigningIdentity, skew: int) -> tuple[Gateway, Skewed]:
    """A gateway whose Org2 endorser is skewed (the policy needs Org1 and Org2)."""
    gateway = net.gateway(user)
    target = next(p for p in net.peers if p.org == "Org2")
    skewed = Skewed(target, skew)
    gateway.endorsers = [skewed if p is target else p for p in net.peers if p.org == "Org1" or p is target]
    return gateway, skewed


def test_one_mismatch_is_retried_and_commits(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    gateway, skewed = _skewed_gateway(net, alice, skew=1)
    invocation = gateway.new_invocation("userTopup", ["A", "7"])
    result = gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [alice]))
    assert result.code.name == "VALID"
    assert skewed.calls == 2  # asked again after the mismatch, and agreed
    wait_in_sync(net)
    assert balance(net, "A") == 7


def test_a_lasting_mismatch_is_refused_and_nothing_is_ordered(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    height = net.orderer.height
    gateway, skewed = _skewed_gateway(net, alice, skew=1_000)
    invocation = gateway.new_invocation("userTopup", ["A", "7"])
    with pytest.raises(EndorsementError) as caught:
        gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [alice]))
    assert caught.value.code == "ENDORSEMENT_MISMATCH"
    assert skewed.calls == ENDORSE_ATTEMPTS_MAX
    assert net.orderer.height == height and balance(net, "A") == 0


def test_a_commit_not_seen_in_time_is_commit_timeout_and_settles_by_id(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    gateway = net.gateway(alice)
    hole = BlackHole()
    gateway.orderer = hole
    invocation = gateway.new_invocation("userTopup", ["A", "9"])
    tx_id = compute_tx_id(invocation)
    started = time.monotonic()
    with pytest.raises(CommitTimeout) as caught:
        gateway.submit(invocation, signoffs_for(net, tx_id, [alice]), timeout_s=0.5)
    assert caught.value.code == "COMMIT_TIMEOUT" and caught.value.tx_id == tx_id
    assert 0.5 <= time.monotonic() - started < 5.0
    assert gateway.commit_status(tx_id) is None and len(hole.kept) == 1

    # The envelope reaches the real ordering service late: the id settles it, once.
    assert net.orderer.broadcast(hole.kept[0]).accepted
    deadline = time.monotonic() + 20
    while (found := gateway.commit_status(tx_id)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert found is not None and found[1].name == "VALID"
    wait_in_sync(net)
    assert balance(net, "A") == 9
