"""The client API: the whole pipeline as one call.

`submit` runs execute → order → validate → commit for one transaction:
  1. endorse — sign a proposal and collect endorsements from enough peers for the policy;
  2. order   — check the endorsements agree, sign the envelope, broadcast it;
  3. validate and 4. commit — wait for the commit event of our peer and report the
     transaction's validation code.
`evaluate` runs a query on one peer. Errors are typed and carry a stable code.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Sequence

from ledger.committer import CommitOutcome
from ledger.encoding import decode, encode
from ledger.endorser import EndorserRefusal
from ledger.identity import SigningIdentity, now_ms
from ledger.messages import (
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
    ValidationCode,
    compute_tx_id,
    signoff_message,
)
from ledger.policy import Policy
from ledger.transport import CommitEvents, EndorserService, OrdererService

NONCE_BYTES = 24
ENDORSE_ATTEMPTS_MAX = 4
ENDORSE_RETRY_PAUSE_S = 0.005
CATCH_UP_WAIT_S = 5.0
CATCH_UP_POLL_S = 0.001
SUBMIT_TIMEOUT_S_DEFAULT = 30.0


class GatewayError(Exception):
    """Base of the client's typed errors: `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class EndorsementError(GatewayError):
    """A peer refused to endorse: the chaincode's refusal code, or the endorser's."""


class OrderingError(GatewayError):
    """The ordering service did not accept the envelope."""


class CommitError(GatewayError):
    """The transaction was ordered but committed as invalid (code = the validation code name)."""

    def __init__(self, code: str, message: str, tx_id: str, block: int) -> None:
        super().__init__(code, message)
        self.tx_id = tx_id
        self.block = block


@dataclass(frozen=True, slots=True)
class SubmitResult:
    tx_id: str
    block: int
    code: ValidationCode
    result: bytes

    def json(self) -> Any:
        return json.loads(self.result) if self.result else None


def make_signoff(kind: str, signer: SigningIdentity, tx_id: str) -> Signoff:
    """`kind` "party" (a user the transaction acts for) or "approval" (an administrator)."""
    return Signoff(kind, signer.cert_bytes, signer.sign(signoff_message(kind, tx_id)))


def creator_party(creator: SigningIdentity) -> Signoff:
    """The submitting identity as a party: covered by its proposal signature, so no signature
    of its own to make or to check (only valid in a proposal `creator` submits)."""
    return Signoff("party", creator.cert_bytes, b"")


class CommitWaiter:
    """Turns a peer's commit events into per-transaction futures."""

    def __init__(self, peer: CommitEvents) -> None:
        self._futures: dict[str, Future[tuple[int, ValidationCode]]] = {}
        self._lock = threading.Lock()
        self.peer = peer
        peer.add_commit_listener(self._on_commit)

    def expect(self, tx_id: str) -> Future[tuple[int, ValidationCode]]:
        with self._lock:
            future = self._futures.get(tx_id)
            if future is None:
                future = self._futures[tx_id] = Future()
            return future

    def forget(self, tx_id: str) -> None:
        with self._lock:
            self._futures.pop(tx_id, None)

    def _on_commit(self, outcome: CommitOutcome) -> None:
        with self._lock:
            ready = [(self._futures.pop(tx_id), code) for tx_id, code in zip(outcome.tx_ids, outcome.codes) if tx_id in self._futures]
        for future, code in ready:
            if not future.done():
                future.set_result((outcome.number, code))


class PendingTransaction:
    """An ordered transaction whose commit (steps 3 and 4, on the peers) is awaited."""

    def __init__(self, tx_id: str, future: "Future[tuple[int, ValidationCode]]", payload_bytes: bytes, waiter: CommitWaiter) -> None:
        self.tx_id = tx_id
        self.future = future
        self._payload_bytes = payload_bytes
        self._waiter = waiter

    def result(self, timeout_s: float = SUBMIT_TIMEOUT_S_DEFAULT) -> SubmitResult:
        """The commit's outcome; raises CommitError for an invalid transaction."""
        try:
            block, code = self.future.result(timeout=timeout_s)
        except FutureTimeout:
            self._waiter.forget(self.tx_id)
            raise GatewayError("COMMIT_TIMEOUT", f"transaction {self.tx_id} was not committed within {timeout_s} s") from None
        if code != ValidationCode.VALID:
            raise CommitError(code.name, describe_code(code), self.tx_id, block)
        return SubmitResult(self.tx_id, block, code, decode(self._payload_bytes, ResponsePayload).result)


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
    ) -> None:
        self.identity = identity
        self.channel = channel
        self.default_chaincode = default_chaincode
        self.endorsers = list(endorsers)
        self.policies = policies
        self.orderer = orderer
        self.waiter = waiter
        self._round_robin = itertools.count()

    def new_invocation(self, function: str, args: Sequence[str], *, chaincode: str | None = None) -> Invocation:
        """A request with a fresh nonce; its transaction id is `compute_tx_id(invocation)`."""
        return Invocation(self.channel, chaincode or self.default_chaincode, function, tuple(str(a) for a in args), os.urandom(NONCE_BYTES))

    def submit(self, invocation: Invocation, signoffs: Sequence[Signoff] = (), *, timeout_s: float = SUBMIT_TIMEOUT_S_DEFAULT) -> SubmitResult:
        """Endorse, order, and wait for the commit; raises a GatewayError subclass."""
        return self.submit_async(invocation, signoffs).result(timeout_s)

    def submit_async(self, invocation: Invocation, signoffs: Sequence[Signoff] = ()) -> "PendingTransaction":
        """Endorse and order now; the returned handle waits for the commit (Fabric's SubmitAsync)."""
        proposal, signed = self._proposal(invocation, signoffs)
        responses, payload_bytes = self._collect_endorsements(invocation.chaincode, signed)  # 1. endorse
        envelope = self._envelope(signed, payload_bytes, responses)
        future = self.waiter.expect(proposal.tx_id)
        accepted = self.orderer.broadcast(envelope)  # 2. order
        if not accepted.accepted:
            self.waiter.forget(proposal.tx_id)
            raise OrderingError(accepted.code, accepted.message)
        return PendingTransaction(proposal.tx_id, future, payload_bytes, self.waiter)  # 3.+4. on the peers

    def evaluate(self, function: str, args: Sequence[str], *, chaincode: str | None = None) -> bytes:
        """Run a query on one peer; nothing is ordered."""
        invocation = self.new_invocation(function, args, chaincode=chaincode)
        _, signed = self._proposal(invocation, ())
        peer = self._query_peer()
        try:
            payload = peer.evaluate(signed)
        except EndorserRefusal as exc:
            raise EndorsementError(exc.code, exc.message) from None
        if payload.status != STATUS_OK:
            raise EndorsementError(payload.code, payload.message)
        return payload.result

    def evaluate_json(self, function: str, args: Sequence[str], *, chaincode: str | None = None) -> Any:
        return json.loads(self.evaluate(function, args, chaincode=chaincode))

    # --- steps --------------------------------------------------------------------------

    def _proposal(self, invocation: Invocation, signoffs: Sequence[Signoff]) -> tuple[Proposal, SignedProposal]:
        proposal = Proposal(invocation, compute_tx_id(invocation), now_ms(), self.identity.cert_bytes, tuple(signoffs))
        proposal_bytes = encode(proposal)
        return proposal, SignedProposal(proposal_bytes, self.identity.sign(proposal_bytes))

    def _collect_endorsements(self, chaincode: str, signed: SignedProposal) -> tuple[list[ProposalResponse], bytes]:
        """Endorsements that agree byte for byte. Peers that differ are usually one block
        apart (one has committed a block the other is still applying): wait briefly and retry."""
        for attempt in range(ENDORSE_ATTEMPTS_MAX):
            asked = [peer.endorse_async(signed) for peer in self._endorsing_set(chaincode)]  # all at once
            responses = [self._endorsed(answer) for answer in asked]
            payload_bytes = responses[0].payload
            if all(r.payload == payload_bytes for r in responses[1:]):
                return responses, payload_bytes
            time.sleep(ENDORSE_RETRY_PAUSE_S * (attempt + 1))
        raise EndorsementError("ENDORSEMENT_MISMATCH", "the endorsing peers computed different results; retry")

    def _query_peer(self) -> EndorserService:
        """The highest peer, preferring our commit peer: a query sees what `submit` returned."""
        home = self.waiter.peer
        alive = [p for p in self.endorsers if p.alive] or self.endorsers
        best = max(alive, key=lambda p: (p.height, p is home))
        return best

    def _endorsing_set(self, chaincode: str) -> list[EndorserService]:
        """One peer per organization (rotating), or every peer if that does not satisfy the policy."""
        policy = self.policies.get(chaincode)
        if policy is None:
            raise EndorsementError("UNKNOWN_CHAINCODE", f"chaincode {chaincode!r} is not defined on this channel")
        by_org: dict[str, list[EndorserService]] = {}
        for peer in self.endorsers:
            if peer.alive:  # a peer whose process ended is skipped
                by_org.setdefault(peer.org, []).append(peer)
        turn = next(self._round_robin)
        # the most up-to-date peer of each org (rotating among equals), so endorsers agree
        chosen = []
        for peers in by_org.values():
            top = max(p.height for p in peers)  # type: ignore[attr-defined]
            level = [p for p in peers if p.height == top]  # type: ignore[attr-defined]
            chosen.append(level[turn % len(level)])
        self._await_height(chosen, self.waiter.peer.height)  # type: ignore[attr-defined]
        identities = [p.identity.identity for p in chosen]  # type: ignore[attr-defined]
        return chosen if policy.satisfied_by(identities) else list(self.endorsers)

    @staticmethod
    def _await_height(peers: Sequence[EndorserService], height: int) -> None:
        """Read-your-writes: endorsers must have applied every block our commit peer has, or a
        proposal right after a commit would be simulated against older state."""
        deadline = time.monotonic() + CATCH_UP_WAIT_S
        while any(p.height < height for p in peers) and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(CATCH_UP_POLL_S)

    @staticmethod
    def _endorsed(answer: "Future[ProposalResponse]") -> ProposalResponse:
        try:
            response = answer.result()
        except EndorserRefusal as exc:
            raise EndorsementError(exc.code, exc.message) from None
        payload = decode(response.payload, ResponsePayload)
        if payload.status != STATUS_OK:
            raise EndorsementError(payload.code, payload.message)
        return response

    def _envelope(self, signed: SignedProposal, payload_bytes: bytes, responses: list[ProposalResponse]) -> bytes:
        transaction = EndorsedTransaction(signed.proposal, payload_bytes, tuple(r.endorsement for r in responses))
        payload = encode(Payload(PayloadType.ENDORSER_TRANSACTION, self.channel, self.identity.cert_bytes, encode(transaction)))
        return encode(Envelope(payload, self.identity.sign(payload)))


_CODE_SENTENCES = {
    ValidationCode.BAD_PAYLOAD: "the transaction could not be decoded",
    ValidationCode.BAD_CREATOR_SIGNATURE: "the transaction's creator signature does not verify",
    ValidationCode.ENDORSEMENT_POLICY_FAILURE: "the endorsements do not satisfy the chaincode's endorsement policy",
    ValidationCode.MVCC_READ_CONFLICT: "another transaction changed what this one read; submit it again",
    ValidationCode.PHANTOM_READ_CONFLICT: "a range this transaction scanned changed before it committed; submit it again",
    ValidationCode.DUPLICATE_TXID: "this transaction id is already on the ledger (a replay)",
    ValidationCode.MISSING_ADMIN_APPROVAL: "the transaction writes without a valid administrator approval",
    ValidationCode.CHAINCODE_ERROR: "the chaincode refused or failed this transaction",
    ValidationCode.UNKNOWN_IDENTITY: "the creator's certificate is unknown, expired or revoked",
    ValidationCode.BAD_TXID: "the transaction id does not match its contents",
    ValidationCode.UNKNOWN_CHAINCODE: "the chaincode is not defined on this channel",
    ValidationCode.BAD_CHANNEL: "the transaction is for another channel",
}


def describe_code(code: ValidationCode) -> str:
    return _CODE_SENTENCES.get(code, code.name)
