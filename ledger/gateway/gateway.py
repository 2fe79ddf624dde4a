"""The client API: the whole pipeline as one call.

`submit` runs execute → order → validate → commit for one transaction:
  1. endorse — sign a proposal and collect agreeing endorsements from enough peers;
  2. order   — sign the envelope and broadcast it to the ordering service;
  3. validate and 4. commit — wait for the commit event of our peer and report the
     transaction's validation code.
`evaluate` runs a query on one peer; `simulate` endorses without ordering (a dry run);
`commit_status` looks a transaction up by id on any live peer. When the commit peer dies,
or hangs (no commit event for `commit_stall_s` while a transaction waits), the gateway waits
on another live peer's commit events and asks the others by tx id (failover).
Each step is a public method, so tools and tests can run one of them alone.
Errors are typed (`ledger.gateway.errors`) and carry a stable code.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, cast

from ledger.core.codes import EndorserCode, GatewayCode
from ledger.core.encoding import decode, encode
from ledger.core.errors import LedgerError
from ledger.core.identity import SigningIdentity, now_ms
from ledger.core.messages import (
    STATUS_OK,
    EndorsedTransaction,
    Envelope,
    Invocation,
    Payload,
    PayloadType,
    Proposal,
    ProposalResponse,
    ResponsePayload,
    SignedProposal,
    Signoff,
    compute_tx_id,
)
from ledger.core.policy import Policy
from ledger.gateway.commit_status import (
    COMMIT_STALL_S,
    SUBMIT_TIMEOUT_S_DEFAULT,
    Committed,
    CommitWaiter,
    Failover,
    PendingTransaction,
    SubmitResult,
    TxLocator,
    locate,
)
from ledger.gateway.errors import EndorsementError, GatewayError, OrderingError
from ledger.gateway.suspects import Suspects
from ledger.transport.protocols import AsyncEndorser, AsyncOrderer, EndorserService, OrdererService

NONCE_BYTES = 24
ENDORSE_ATTEMPTS_MAX = 4
ENDORSE_RETRY_PAUSE_S = 0.005
ENDORSE_TIMEOUT_S = 30.0  # the endorsements' answers; a hung peer costs at most this, then others are asked
CATCH_UP_WAIT_S = 5.0
CATCH_UP_POLL_S = 0.001
ENDORSERS_GRACE_S = 5.0  # a peer unheard for a moment (a late heartbeat under load, a restart) is awaited this long
ENDORSERS_POLL_S = 0.05


def _await_peers(condition: Callable[[], bool], limit_s: float, poll_s: float) -> bool:
    """Whether `condition` (a fact about the peers: live enough, high enough) came to hold
    within `limit_s`, read every `poll_s`. The peers' state changes on other threads (their
    heartbeats, their commits) with no event to await; the limit keeps a client's call from
    hanging on peers that never come."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


async def _await_peers_aio(condition: Callable[[], bool], limit_s: float, poll_s: float) -> bool:
    """`_await_peers` on an event loop: the peers' state is updated by that same loop (their
    events and heartbeats), so a task waits with timers instead of holding a thread."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


def _at_height(peers: Sequence[EndorserService], height: int) -> Callable[[], bool]:
    return lambda: all(p.height >= height for p in peers)


def _agreed(responses: Sequence[ProposalResponse]) -> bytes | None:
    """The payload every endorser returned, byte for byte; None when they differ."""
    payload = responses[0].payload
    return payload if all(r.payload == payload for r in responses[1:]) else None


def _no_endorsers(policy: Policy) -> EndorsementError:
    return EndorsementError(GatewayCode.NO_ENDORSERS, f"the live peers cannot satisfy {policy.text}")


def _mismatch() -> EndorsementError:
    return EndorsementError(GatewayCode.ENDORSEMENT_MISMATCH, "the endorsing peers computed different results; retry")


class Gateway:
    """A client identity's connection to the network."""

    def __init__(
        self,
        identity: SigningIdentity,
        *,
        channel: str,
        default_chaincode: str,
        endorsers: Sequence[EndorserService],
        policies: dict[str, Policy],
        orderer: OrdererService,
        waiter: CommitWaiter,
        failover: Failover | None = None,
        locators: Sequence[TxLocator] = (),
        suspects: Suspects | None = None,
        endorse_timeout_s: float = ENDORSE_TIMEOUT_S,
        commit_stall_s: float = COMMIT_STALL_S,
    ) -> None:
        """`failover` gives a waiter on a live peer when `waiter`'s peer dies; `locators` are
        the peers `commit_status` asks; `suspects` (shared by a network's gateways) remembers
        peers that did not answer in `endorse_timeout_s`, or sent no commit event for
        `commit_stall_s` while a transaction waited on them."""
        self.identity = identity
        self.channel = channel
        self.default_chaincode = default_chaincode
        self.endorsers = list(endorsers)
        self.policies = policies
        self.orderer = orderer
        self.waiter = waiter
        self._failover = failover
        self.locators = list(locators)
        self.suspects = suspects if suspects is not None else Suspects()
        self.endorse_timeout_s = endorse_timeout_s
        self.commit_stall_s = commit_stall_s
        self._round_robin = itertools.count()

    def new_invocation(self, function: str, args: Sequence[str], *, chaincode: str | None = None) -> Invocation:
        """A request with a fresh nonce; its transaction id is `compute_tx_id(invocation)`."""
        return Invocation(self.channel, chaincode or self.default_chaincode, function, tuple(str(a) for a in args), os.urandom(NONCE_BYTES))

    # --- the pipeline -------------------------------------------------------------------

    def submit(self, invocation: Invocation, signoffs: Sequence[Signoff] = (), *, timeout_s: float = SUBMIT_TIMEOUT_S_DEFAULT) -> SubmitResult:
        """Endorse, order, and wait for the commit; raises a GatewayError subclass."""
        return self.submit_async(invocation, signoffs).result(timeout_s)

    def submit_async(self, invocation: Invocation, signoffs: Sequence[Signoff] = ()) -> PendingTransaction:
        """Endorse and order now; the returned handle waits for the commit (Fabric's SubmitAsync)."""
        signed = self.propose(invocation, signoffs)
        responses, payload_bytes = self.endorse(invocation.chaincode, signed)  # 1. endorse
        envelope = self.assemble(signed, payload_bytes, responses)
        tx_id = compute_tx_id(invocation)
        waiter = self._live_waiter()
        future = waiter.expect(tx_id)
        try:
            self.order(envelope)  # 2. order
        except GatewayError:
            waiter.forget(tx_id)
            raise
        return self._pending(tx_id, future, payload_bytes, waiter)  # 3.+4.

    def event_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop `submit_aio` runs on: the one that carries every endorser's and the
        orderer's messages (a networked gateway's NATS connection), or None when they are
        not all reached that way (in-process and pipe peers)."""
        loop = getattr(self.orderer, "loop", None)
        if not isinstance(self.orderer, AsyncOrderer) or not all(isinstance(p, AsyncEndorser) for p in self.endorsers):
            return None
        return loop if isinstance(loop, asyncio.AbstractEventLoop) else None

    async def submit_aio(self, invocation: Invocation, signoffs: Sequence[Signoff] = ()) -> PendingTransaction:
        """`submit_async` as a coroutine on `event_loop()`: endorse and order without a thread
        blocked on each reply, so a client with many transactions in flight (the networked
        bench) runs them as tasks on the connection's loop instead of one thread each, and
        no reply has to wake a waiting thread. Same steps, choices, retries and errors."""
        signed = self.propose(invocation, signoffs)
        responses, payload_bytes = await self.endorse_aio(invocation.chaincode, signed)  # 1. endorse
        envelope = self.assemble(signed, payload_bytes, responses)
        tx_id = compute_tx_id(invocation)
        waiter = self._live_waiter()
        future = waiter.expect(tx_id)
        try:
            accepted = await cast(AsyncOrderer, self.orderer).broadcast_aio(envelope)  # 2. order
            if not accepted.accepted:
                raise OrderingError(accepted.code, accepted.message)
        except GatewayError:
            waiter.forget(tx_id)
            raise
        return self._pending(tx_id, future, payload_bytes, waiter)  # 3.+4.

    def _pending(self, tx_id: str, future: "Future[Committed]", payload_bytes: bytes, waiter: CommitWaiter) -> PendingTransaction:
        return PendingTransaction(
            tx_id, future, payload_bytes, waiter, failover=self._failover_waiter, lookup=self._lookup, stall_s=self.commit_stall_s, on_stall=self.suspects.mark
        )

    def commit_status(self, tx_id: str) -> Committed | None:
        """(block, validation code) of a committed transaction, asked of any live peer; None
        when none has it. How a caller settles a COMMIT_TIMEOUT without resubmitting. A
        suspect peer (one that did not answer lately) is not asked: it could hold us a whole
        call limit."""
        return locate(tx_id, self.locators, [p.name for p in self.locators if p.name in self.suspects])

    def _lookup(self, tx_id: str, avoid: Collection[str]) -> Committed | None:
        """`commit_status` asked of the peers not in `avoid` (the silent ones)."""
        return locate(tx_id, self.locators, avoid)

    def can_endorse(self, chaincode: str | None = None) -> bool:
        """Whether the live peers can satisfy the chaincode's endorsement policy now."""
        policy = self.policies.get(chaincode or self.default_chaincode)
        return policy is not None and policy.satisfied_by([p.identity for p in self.endorsers if p.alive])

    def simulate(self, invocation: Invocation, signoffs: Sequence[Signoff] = ()) -> ResponsePayload:
        """Step 1 alone: what the transaction would read and write, or the refusal it would get
        (raised as EndorsementError); nothing is ordered."""
        responses, payload_bytes = self.endorse(invocation.chaincode, self.propose(invocation, signoffs))
        del responses
        return decode(payload_bytes, ResponsePayload)

    def evaluate(self, function: str, args: Sequence[str], *, chaincode: str | None = None) -> bytes:
        """Run a query on one peer; nothing is ordered."""
        signed = self.propose(self.new_invocation(function, args, chaincode=chaincode), ())
        peer = self._query_peer()
        try:
            payload = decode(peer.evaluate(encode(signed)), ResponsePayload)
        except LedgerError as exc:
            raise EndorsementError(exc.code, exc.message) from None
        if payload.status != STATUS_OK:
            raise EndorsementError(payload.code, payload.message)
        return payload.result

    def evaluate_json(self, function: str, args: Sequence[str], *, chaincode: str | None = None) -> Any:
        return json.loads(self.evaluate(function, args, chaincode=chaincode))

    # --- steps --------------------------------------------------------------------------

    def propose(self, invocation: Invocation, signoffs: Sequence[Signoff]) -> SignedProposal:
        """The proposal, signed by this gateway's identity (its creator)."""
        proposal = Proposal(invocation, compute_tx_id(invocation), now_ms(), self.identity.cert_bytes, tuple(signoffs))
        proposal_bytes = encode(proposal)
        return SignedProposal(proposal_bytes, self.identity.sign(proposal_bytes))

    def endorse(self, chaincode: str, signed: SignedProposal, *, peers: Sequence[EndorserService] | None = None) -> tuple[list[ProposalResponse], bytes]:
        """Step 1: endorsements that agree byte for byte (from `peers`, or from a set chosen
        to satisfy the policy). Peers that differ are usually one block apart (one has
        committed a block the other is still applying): wait briefly and retry."""
        signed_bytes = encode(signed)
        for attempt in range(ENDORSE_ATTEMPTS_MAX):
            chosen = list(peers) if peers is not None else self.endorsing_set(chaincode)
            try:
                responses = self._ask(chosen, signed_bytes)
            except _PeerSilent as silent:  # died or hung under us: choose again among the others
                self.suspects.mark(silent.peer.name)
                if peers is not None or attempt + 1 == ENDORSE_ATTEMPTS_MAX:
                    raise silent.error from None
                continue
            if (payload_bytes := _agreed(responses)) is not None:
                return responses, payload_bytes
            time.sleep(ENDORSE_RETRY_PAUSE_S * (attempt + 1))
            # A peer further behind (its NATS server died and it is reconnecting) would differ
            # again at once: give the laggards up to CATCH_UP_WAIT_S to reach the highest.
            self._await_height(chosen, max(p.height for p in chosen))
        raise _mismatch()

    async def endorse_aio(self, chaincode: str, signed: SignedProposal) -> tuple[list[ProposalResponse], bytes]:
        """`endorse` as a coroutine on `event_loop()` (the same choices, waits and retries)."""
        signed_bytes = encode(signed)
        policy = self._policy(chaincode)
        for attempt in range(ENDORSE_ATTEMPTS_MAX):
            if not await _await_peers_aio(lambda: self._live_satisfy(policy), ENDORSERS_GRACE_S, ENDORSERS_POLL_S):
                raise _no_endorsers(policy)
            chosen = self._one_per_org()
            await _await_peers_aio(_at_height(chosen, self.waiter.peer.height), CATCH_UP_WAIT_S, CATCH_UP_POLL_S)
            chosen = self._satisfying(policy, chosen)
            try:
                responses = await self._ask_aio(chosen, signed_bytes)
            except _PeerSilent as silent:
                self.suspects.mark(silent.peer.name)
                if attempt + 1 == ENDORSE_ATTEMPTS_MAX:
                    raise silent.error from None
                continue
            if (payload_bytes := _agreed(responses)) is not None:
                return responses, payload_bytes
            await asyncio.sleep(ENDORSE_RETRY_PAUSE_S * (attempt + 1))
            await _await_peers_aio(_at_height(chosen, max(p.height for p in chosen)), CATCH_UP_WAIT_S, CATCH_UP_POLL_S)
        raise _mismatch()

    def assemble(self, signed: SignedProposal, payload_bytes: bytes, responses: Sequence[ProposalResponse]) -> bytes:
        """The transaction envelope: proposal, the agreed response and the endorsements, signed."""
        transaction = EndorsedTransaction(signed.proposal, payload_bytes, tuple(r.endorsement for r in responses))
        payload = encode(Payload(PayloadType.ENDORSER_TRANSACTION, self.channel, self.identity.cert_bytes, encode(transaction)))
        return encode(Envelope(payload, self.identity.sign(payload)))

    def order(self, envelope: bytes) -> None:
        """Step 2: hand the envelope to the ordering service (OrderingError if refused)."""
        accepted = self.orderer.broadcast(envelope)
        if not accepted.accepted:
            raise OrderingError(accepted.code, accepted.message)

    def endorsing_set(self, chaincode: str) -> list[EndorserService]:
        """One live peer per organization (the most up-to-date, rotating among equals), or
        every live peer when that does not satisfy the chaincode's endorsement policy."""
        policy = self._policy(chaincode)
        self._await_live_endorsers(policy)
        chosen = self._one_per_org()
        self._await_height(chosen, self.waiter.peer.height)
        return self._satisfying(policy, chosen)

    def _policy(self, chaincode: str) -> Policy:
        policy = self.policies.get(chaincode)
        if policy is None:
            raise EndorsementError(GatewayCode.UNKNOWN_CHAINCODE, f"chaincode {chaincode!r} is not defined on this channel")
        return policy

    def _live_satisfy(self, policy: Policy) -> bool:
        return policy.satisfied_by([p.identity for p in self.endorsers if p.alive])

    def _one_per_org(self) -> list[EndorserService]:
        """The most up-to-date live peer of each organization (rotating among equals; a
        silent one only if the organization has nobody else)."""
        by_org: dict[str, list[EndorserService]] = {}
        for peer in self.endorsers:
            if peer.alive:  # a peer whose process ended is skipped
                by_org.setdefault(peer.org, []).append(peer)
        turn = next(self._round_robin)
        chosen = []
        for peers in by_org.values():
            peers = [p for p in peers if p.name not in self.suspects] or peers
            top = max(p.height for p in peers)
            level = [p for p in peers if p.height == top]
            chosen.append(level[turn % len(level)])
        return chosen

    def _satisfying(self, policy: Policy, chosen: list[EndorserService]) -> list[EndorserService]:
        """`chosen` if it satisfies `policy`, else every live peer (NO_ENDORSERS if not even they do)."""
        if policy.satisfied_by([p.identity for p in chosen]):
            return chosen
        alive = [p for p in self.endorsers if p.alive]
        if not policy.satisfied_by([p.identity for p in alive]):
            raise _no_endorsers(policy)
        return alive

    # --- helpers ------------------------------------------------------------------------

    def _await_live_endorsers(self, policy: Policy) -> None:
        """Wait (bounded) until the live peers can satisfy `policy`. Liveness of a remote peer
        is its last heartbeat: under load one can come late, and a peer that restarts is
        unheard for a moment, so a client is refused NO_ENDORSERS only when the gap lasts
        longer than ENDORSERS_GRACE_S, not at the first missed beat."""
        if not _await_peers(lambda: self._live_satisfy(policy), ENDORSERS_GRACE_S, ENDORSERS_POLL_S):
            raise _no_endorsers(policy)

    def _live_waiter(self) -> CommitWaiter:
        """Our commit peer's waiter, or a live peer's when ours died or went silent (a
        suspect: kept from then on; if none can replace it, ours stays)."""
        peer = self.waiter.peer
        if not peer.alive or peer.name in self.suspects:
            self._failover_waiter({peer.name})
        return self.waiter

    def _failover_waiter(self, avoid: Collection[str] = ()) -> CommitWaiter | None:
        """Our waiter while its peer is alive and not in `avoid`, else a waiter on another
        live peer (which becomes ours), or None when there is none."""
        current = self.waiter
        if current.peer.alive and current.peer.name not in avoid:
            return current
        if self._failover is None:
            return None
        replacement = self._failover(frozenset(avoid) | {current.peer.name})
        if replacement is not None:
            self.waiter = replacement
        return replacement

    def _query_peer(self) -> EndorserService:
        """The highest live peer, preferring our commit peer: a query sees what `submit` returned."""
        home: object = self.waiter.peer
        alive = [p for p in self.endorsers if p.alive] or self.endorsers
        return max(alive, key=lambda p: (p.height, p is home))

    @staticmethod
    def _await_height(peers: Sequence[EndorserService], height: int) -> None:
        """Read-your-writes: endorsers must have applied every block our commit peer has, or a
        proposal right after a commit would be simulated against older state."""
        _await_peers(_at_height(peers, height), CATCH_UP_WAIT_S, CATCH_UP_POLL_S)  # still behind at the limit: endorse anyway

    def _ask(self, chosen: Sequence[EndorserService], signed_bytes: bytes) -> list[ProposalResponse]:
        """Ask every chosen peer at once and collect the answers within one deadline
        (`endorse_timeout_s`). _PeerSilent names a peer that is gone or did not answer."""
        asked: list[Future[bytes]] = []
        for peer in chosen:
            try:
                asked.append(peer.endorse(signed_bytes))
            except LedgerError as exc:
                raise _PeerSilent.of(peer, exc) from None
        deadline = time.monotonic() + self.endorse_timeout_s
        return [self._endorsed(peer, answer, deadline) for peer, answer in zip(chosen, asked)]

    def _endorsed(self, peer: EndorserService, answer: "Future[bytes]", deadline: float) -> ProposalResponse:
        try:
            response = decode(answer.result(timeout=max(0.0, deadline - time.monotonic())), ProposalResponse)
        except FutureTimeout:
            error = EndorsementError(GatewayCode.ENDORSEMENT_TIMEOUT, f"peer {peer.name} did not endorse within {self.endorse_timeout_s} s")
            raise _PeerSilent(peer, error) from None
        except LedgerError as exc:
            raise _PeerSilent.of(peer, exc) from None
        return self._response_of(peer, response)

    async def _ask_aio(self, chosen: Sequence[EndorserService], signed_bytes: bytes) -> list[ProposalResponse]:
        """`_ask` as a coroutine: every chosen peer asked at once, answers within one deadline."""
        asked = [asyncio.ensure_future(cast(AsyncEndorser, peer).endorse_aio(signed_bytes)) for peer in chosen]
        done, late = await asyncio.wait(asked, timeout=self.endorse_timeout_s)
        for task in late:
            task.cancel()
        for task in done:
            task.exception()  # every outcome retrieved, even those not reached below
        responses = []
        for peer, task in zip(chosen, asked):
            if task in late:
                error = EndorsementError(GatewayCode.ENDORSEMENT_TIMEOUT, f"peer {peer.name} did not endorse within {self.endorse_timeout_s} s")
                raise _PeerSilent(peer, error)
            failure = task.exception()
            if isinstance(failure, LedgerError):
                raise _PeerSilent.of(peer, failure) from None
            if failure is not None:
                raise failure
            responses.append(self._response_of(peer, decode(task.result(), ProposalResponse)))
        return responses

    def _response_of(self, peer: EndorserService, response: ProposalResponse) -> ProposalResponse:
        """A peer's endorsement, once it answered: the peer is no suspect; a refusal is raised."""
        self.suspects.clear(peer.name)
        payload = decode(response.payload, ResponsePayload)
        if payload.status != STATUS_OK:
            raise EndorsementError(payload.code, payload.message)
        return response


class _PeerSilent(Exception):
    """A chosen endorser gave no endorsement: gone, hung (timeout), or it refused. `error`
    is what the client is told if no retry helps."""

    RETRYABLE = frozenset({EndorserCode.PEER_UNAVAILABLE, GatewayCode.ENDORSEMENT_TIMEOUT})

    def __init__(self, peer: EndorserService, error: EndorsementError) -> None:
        super().__init__(error.message)
        self.peer = peer
        self.error = error

    @classmethod
    def of(cls, peer: EndorserService, exc: LedgerError) -> "_PeerSilent | EndorsementError":
        """A peer's refusal: retryable (it is unavailable) or final (raised as is)."""
        error = exc if isinstance(exc, EndorsementError) else EndorsementError(exc.code, exc.message)
        if exc.code in cls.RETRYABLE:
            return cls(peer, error)
        return error
