"""The gateway's answers to peers that disagree and to commits that never come.

ENDORSEMENT_MISMATCH: endorsers whose results differ (one a block behind, say) are asked
again; a single disagreement costs a retry, a lasting one is refused with nothing ordered.
COMMIT_TIMEOUT: an ordered transaction whose commit is not seen in time is reported with
its id, never resubmitted; `commit_status` settles it once it commits.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import Any

import msgspec
import pytest
from netkit import balance, signoffs_for, submit, wait_in_sync

from ledger.core.encoding import decode, encode
from ledger.core.identity import Identity, SigningIdentity
from ledger.core.messages import BroadcastResult, ProposalResponse, ResponsePayload, compute_tx_id
from ledger.gateway import CommitTimeout, EndorsementError, Gateway
from ledger.gateway import gateway as gateway_module
from ledger.gateway.gateway import ENDORSE_ATTEMPTS_MAX
from ledger.node.network import Network
from ledger.transport.protocols import EndorserService, OrdererService

UNSETTLED_S = 0.4  # how long a test's peer is unheard or behind (below the gateway's 5 s limits)


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
            answer = _skewed(answer)
        future: Future[bytes] = Future()
        future.set_result(answer)
        return future


def _skewed(answer: bytes) -> bytes:
    """An endorsement whose result differs from the one the peer computed."""
    response = decode(answer, ProposalResponse)
    payload = decode(response.payload, ResponsePayload)
    changed = msgspec.structs.replace(payload, result=payload.result + b" ")
    return encode(ProposalResponse(encode(changed), response.endorsement))


class Unsettled(Skewed):
    """A real peer that is unheard (not alive) for its first `unheard_s`, and reports one
    block fewer than it has for its first `behind_s` (as one still applying a block would)."""

    def __init__(self, peer: EndorserService, *, unheard_s: float = 0.0, behind_s: float = 0.0) -> None:
        super().__init__(peer, skew=0)
        now = time.monotonic()
        self.heard_at = now + unheard_s
        self.caught_up_at = now + behind_s

    @property
    def alive(self) -> bool:
        return time.monotonic() >= self.heard_at and self.peer.alive

    @property
    def height(self) -> int:
        return self.peer.height - (0 if time.monotonic() >= self.caught_up_at else 1)


class BlackHole:
    """An ordering service that says yes and keeps the envelopes (a lost broadcast)."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []

    def broadcast(self, envelope: bytes) -> BroadcastResult:
        self.kept.append(envelope)
        return BroadcastResult(True)


def _skewed_gateway(net: Network, user: SigningIdentity, skew: int) -> tuple[Gateway, Skewed]:
    """A gateway whose Org2 endorser is skewed (the policy needs Org1 and Org2)."""
    target = next(p for p in net.peers if p.org == "Org2")
    skewed = Skewed(target, skew)
    return _gateway_with(net, user, skewed), skewed


def _gateway_with(net: Network, user: SigningIdentity, org2: Skewed) -> Gateway:
    """A gateway whose only Org2 endorser is `org2` (a wrapper of a real Org2 peer)."""
    gateway = net.gateway(user)
    gateway.endorsers = [org2 if p is org2.peer else p for p in net.peers if p.org == "Org1" or p is org2.peer]
    return gateway


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


def test_an_endorser_unheard_for_a_moment_is_awaited_and_one_gone_is_no_endorsers(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENDORSERS_GRACE_S: a peer whose heartbeat comes late is waited for, not refused at
    once; one unheard past the limit is refused NO_ENDORSERS, with nothing ordered."""
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    target = next(p for p in net.peers if p.org == "Org2")
    gateway = _gateway_with(net, alice, Unsettled(target, unheard_s=UNSETTLED_S))
    invocation = gateway.new_invocation("userTopup", ["A", "3"])
    started = time.monotonic()
    assert gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [alice])).code.name == "VALID"
    assert time.monotonic() - started >= UNSETTLED_S

    monkeypatch.setattr(gateway_module, "ENDORSERS_GRACE_S", UNSETTLED_S)
    height = net.orderer.height
    gateway = _gateway_with(net, alice, Unsettled(target, unheard_s=3600.0))
    invocation = gateway.new_invocation("userTopup", ["A", "4"])
    started = time.monotonic()
    with pytest.raises(EndorsementError) as caught:
        gateway.submit(invocation, signoffs_for(net, compute_tx_id(invocation), [alice]))
    assert caught.value.code == "NO_ENDORSERS"
    assert UNSETTLED_S <= time.monotonic() - started < UNSETTLED_S + 5.0
    assert net.orderer.height == height


def test_an_endorser_a_block_behind_the_commit_peer_is_awaited_before_it_endorses(net: Network) -> None:
    """CATCH_UP_WAIT_S (read-your-writes): a chosen endorser below our commit peer's height
    is given time to reach it before it is asked."""
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    wait_in_sync(net)
    target = next(p for p in net.peers if p.org == "Org2")
    behind = Unsettled(target, behind_s=UNSETTLED_S)
    gateway = _gateway_with(net, alice, behind)
    invocation = gateway.new_invocation("userTopup", ["A", "5"])
    signoffs = signoffs_for(net, compute_tx_id(invocation), [alice])
    started = time.monotonic()
    assert gateway.submit(invocation, signoffs).code.name == "VALID"
    assert time.monotonic() - started >= UNSETTLED_S and behind.calls == 1


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


# --- the same answers from coroutines (`Gateway.submit_aio`, what the networked bench uses) ---


class AsyncPeer(Skewed):
    """A real peer awaited as a NATS peer is (`endorse_aio`), every call counted. Budgets
    shared by several peers: while `hangs` is above 0 a call takes one and never answers;
    while `skews` is, a call takes one and answers a different result."""

    def __init__(self, peer: EndorserService, *, hangs: list[int] | None = None, skews: list[int] | None = None) -> None:
        super().__init__(peer, skew=0)
        self.hangs = hangs if hangs is not None else [0]
        self.skews = skews if skews is not None else [0]
        self.hung = 0

    async def endorse_aio(self, signed_proposal: bytes) -> bytes:
        if self.hangs[0] > 0:
            self.hangs[0] -= 1
            self.hung += 1
            await asyncio.Event().wait()
        answer = await asyncio.to_thread(lambda: self.endorse(signed_proposal).result(timeout=10))
        if self.skews[0] > 0:
            self.skews[0] -= 1
            answer = _skewed(answer)
        return answer


class AsyncOrdering:
    """The network's ordering service, awaited from the test's own loop."""

    def __init__(self, orderer: OrdererService, loop: asyncio.AbstractEventLoop) -> None:
        self.orderer = orderer
        self.loop = loop

    def broadcast(self, envelope: bytes) -> BroadcastResult:
        return self.orderer.broadcast(envelope)

    async def broadcast_aio(self, envelope: bytes) -> BroadcastResult:
        return await asyncio.to_thread(self.orderer.broadcast, envelope)


def _submit_aio(net: Network, user: SigningIdentity, args: list[str], org2: dict[str, AsyncPeer] | None = None, endorse_timeout_s: float = 10.0) -> tuple[Gateway, Any]:
    """Submit from a coroutine through a gateway whose peers are all awaited (`org2` wraps
    Org2's peers by name); returns the gateway and the pending transaction or the error."""

    async def run() -> Any:
        gateway.orderer = AsyncOrdering(net.orderer, asyncio.get_running_loop())
        assert gateway.event_loop() is asyncio.get_running_loop()
        invocation = gateway.new_invocation("userTopup", args)
        try:
            return await gateway.submit_aio(invocation, signoffs_for(net, compute_tx_id(invocation), [user]))
        except EndorsementError as exc:
            return exc

    gateway = net.gateway(user)
    assert gateway.event_loop() is None  # in-process peers: the sync path with threads
    gateway.endorse_timeout_s = endorse_timeout_s
    wrapped = org2 or {}
    gateway.endorsers = [wrapped.get(p.name) or AsyncPeer(p) for p in net.peers]
    return gateway, asyncio.run(run())


def test_from_coroutines_a_mismatch_is_retried_and_a_lasting_one_refused(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    wait_in_sync(net)
    org2 = [p for p in net.peers if p.org == "Org2"]
    once = [1]  # whichever Org2 peer answers first answers a different result
    skewed = {p.name: AsyncPeer(p, skews=once) for p in org2}
    _, pending = _submit_aio(net, alice, ["A", "7"], skewed)
    assert pending.result().code.name == "VALID"
    assert sum(p.calls for p in skewed.values()) == 2  # asked again after the mismatch, and agreed
    wait_in_sync(net)
    height = net.orderer.height
    every_time = [1_000]
    lasting = {p.name: AsyncPeer(p, skews=every_time) for p in org2}
    _, refused = _submit_aio(net, alice, ["A", "1"], lasting)
    assert isinstance(refused, EndorsementError) and refused.code == "ENDORSEMENT_MISMATCH"
    assert sum(p.calls for p in lasting.values()) == ENDORSE_ATTEMPTS_MAX
    assert net.orderer.height == height and balance(net, "A") == 7


def test_from_coroutines_a_hung_endorser_is_suspected_and_another_endorses(net: Network) -> None:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    wait_in_sync(net)
    hangs = [1]  # whichever Org2 peer is asked first never answers
    org2 = {p.name: AsyncPeer(p, hangs=hangs) for p in net.peers if p.org == "Org2"}
    started = time.monotonic()
    gateway, pending = _submit_aio(net, alice, ["A", "6"], org2, endorse_timeout_s=UNSETTLED_S)
    assert pending.result().code.name == "VALID"
    assert time.monotonic() - started >= UNSETTLED_S
    hung = [p for p in org2.values() if p.hung]
    assert len(hung) == 1 and hung[0].name in gateway.suspects
    assert all(p.hung == 0 and p.calls == 1 for p in org2.values() if p is not hung[0])
    wait_in_sync(net)
    assert balance(net, "A") == 6
