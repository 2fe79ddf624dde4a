"""Step 3 of execute → order → validate → commit: mark every transaction of a block.

For each transaction, in block order: payload decodes, creator is a member and signed the
envelope, the transaction id is the hash of the invocation and not seen before, endorsers
are members whose signatures cover the same response, the endorsement policy holds, a
write carries the supervision approval, and (MVCC) every key read still has the version it
had at simulation and every range scan would see the same keys (no phantoms), counting the
writes of valid transactions earlier in the same block. An invalid transaction is data —
a code in the block's flags — never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger.core.channel import Channel
from ledger.core.codes import ValidationCode, is_authentic
from ledger.core.encoding import sha256
from ledger.core.errors import MembershipError
from ledger.core.identity import Identity
from ledger.core.messages import (
    STATUS_OK,
    Block,
    KVWrite,
    RangeRead,
    ReadWriteSet,
    Version,
    compute_tx_id,
    signoff_message,
)
from ledger.core.statekeys import namespaced, stored_key_problem
from ledger.core.transactions import parse_endorser_transaction
from ledger.validate.signatures import Check, SignaturePool, shared_pool

V = ValidationCode


class ValidationState(Protocol):
    """What validation reads of the committed state (a peer's StateDB)."""

    def versions(self, keys: Iterable[str]) -> dict[str, Version]: ...

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]: ...

    def existing_tx_ids(self, tx_ids: Iterable[str]) -> set[str]: ...


@dataclass(slots=True)
class ValidTx:
    tx_num: int
    tx_id: str
    timestamp_ms: int
    rwset: ReadWriteSet


@dataclass(slots=True)
class ValidationResult:
    codes: list[ValidationCode]
    tx_ids: list[str]  # every decodable transaction's id ("" where it could not be decoded)
    valid: list[ValidTx] = field(default_factory=list)

    def writes(self) -> list[tuple[int, str, int, KVWrite]]:
        return [(tx.tx_num, tx.tx_id, tx.timestamp_ms, write) for tx in self.valid for write in tx.rwset.writes]


@dataclass(slots=True)
class _Decoded:
    tx_id: str
    timestamp_ms: int
    chaincode: str
    rwset: ReadWriteSet
    endorsers: list[Identity]
    approvers: list[Identity]


@dataclass(slots=True)
class _Parsed:
    tx_id: str
    timestamp_ms: int
    chaincode: str
    rwset: ReadWriteSet
    checks: list[Check]  # creator's, then each endorser's, then each approver's
    endorsers: list[Identity]
    approvers: list[Identity]
    verdict: ValidationCode | None = None  # a code decided before the signatures (kept if the creator's verifies)


@dataclass(slots=True)
class _Refused:
    """A transaction refused before its creator's signature could be checked."""

    tx_id: str  # "" when undecodable
    code: ValidationCode


class Validator:
    def __init__(self, channel: Channel, signatures: SignaturePool | None = None) -> None:
        self.channel = channel
        self.signatures = signatures or shared_pool()

    def validate(self, block: Block, state: ValidationState) -> ValidationResult:
        """Codes for every transaction of `block` (block 0, the genesis, is valid by definition)."""
        if block.header.number == 0:
            return ValidationResult([V.VALID] * len(block.data), [""] * len(block.data))
        # Certificates are judged at the block's (orderer-given) time, so replaying the chain
        # later gives the same verdicts.
        at_ms = block.header.timestamp_ms
        tx_ids, decoded = self._check_signed_parts(block.data, at_ms)
        seen = state.existing_tx_ids([t for t in tx_ids if t])
        read_keys = {r.key for d in decoded if isinstance(d, _Decoded) for r in d.rwset.reads}
        committed = state.versions(read_keys)
        updates: dict[str, Version | None] = {}  # writes of valid txs earlier in this block
        result = ValidationResult([], tx_ids)
        for tx_num, item in enumerate(decoded):
            if isinstance(item, ValidationCode):  # decided alone; an authentic replay is still a replay
                code = V.DUPLICATE_TXID if is_authentic(item) and tx_ids[tx_num] in seen else item
            else:
                code = self._check_tx(item, tx_num, seen, committed, updates, state)
            result.codes.append(code)
            if tx_ids[tx_num] and is_authentic(code):
                seen.add(tx_ids[tx_num])  # a later copy in this block is a replay
            if isinstance(item, _Decoded):
                if code == V.VALID:
                    result.valid.append(ValidTx(tx_num, item.tx_id, item.timestamp_ms, item.rwset))
                    for write in item.rwset.writes:
                        updates[write.key] = None if write.is_delete else (block.header.number, tx_num)
        return result

    def _check_tx(
        self,
        tx: _Decoded,
        tx_num: int,
        seen: set[str],
        committed: dict[str, Version],
        updates: dict[str, Version | None],
        state: ValidationState,
    ) -> ValidationCode:
        if tx.tx_id in seen:
            return V.DUPLICATE_TXID
        namespace = namespaced(tx.chaincode, "")
        for write in tx.rwset.writes:
            if not write.key.startswith(namespace) or stored_key_problem(write.key):
                return V.BAD_KEY
        if not self.channel.endorsement_policy(tx.chaincode).satisfied_by(tx.endorsers):
            return V.ENDORSEMENT_POLICY_FAILURE
        approval = self.channel.approval_policy(tx.chaincode)
        if tx.rwset.writes and approval is not None and not approval.satisfied_by(tx.approvers):
            return V.MISSING_ADMIN_APPROVAL
        for read in tx.rwset.reads:
            current = updates[read.key] if read.key in updates else committed.get(read.key)
            if current != read.version:
                return V.MVCC_READ_CONFLICT
        for range_read in tx.rwset.range_reads:
            if not _same_range(range_read, state, updates):
                return V.PHANTOM_READ_CONFLICT
        return V.VALID

    def _check_signed_parts(self, envelopes: Sequence[bytes], at_ms: int) -> tuple[list[str], list[_Decoded | ValidationCode]]:
        """Everything that depends on one transaction alone: decoding, identities, signatures.

        Signatures of the whole block are checked in one batch (in worker processes when the
        block is large), then each transaction is judged. The creator's signature is checked
        for every transaction that names a member creator, before any code that would index
        its transaction id (see `ledger.commit.txindex`). Returns every decodable
        transaction's id and, per transaction, what is known of it.
        """
        parsed = [self._parse(envelope, at_ms) for envelope in envelopes]
        tx_ids = [item.tx_id for item in parsed]
        checks = [check for item in parsed if isinstance(item, _Parsed) for check in item.checks]
        verdicts = iter(self.signatures.verify_many(checks))
        decoded: list[_Decoded | ValidationCode] = []
        for item in parsed:
            if isinstance(item, _Refused):
                decoded.append(item.code)
                continue
            ok = [next(verdicts) for _ in item.checks]
            if not ok[0]:
                decoded.append(V.BAD_CREATOR_SIGNATURE)
                continue
            if item.verdict is not None:
                decoded.append(item.verdict)
                continue
            endorsers = [identity for identity, good in zip(item.endorsers, ok[1 : 1 + len(item.endorsers)]) if good]
            approvers = [identity for identity, good in zip(item.approvers, ok[1 + len(item.endorsers) :]) if good]
            decoded.append(_Decoded(item.tx_id, item.timestamp_ms, item.chaincode, item.rwset, endorsers, approvers))
        return tx_ids, decoded

    def _parse(self, envelope_bytes: bytes, at_ms: int) -> "_Parsed | _Refused":
        parsed = parse_endorser_transaction(envelope_bytes)
        if parsed is None:
            return _Refused("", V.BAD_PAYLOAD)
        envelope, payload, transaction, proposal, response = (
            parsed.envelope, parsed.payload, parsed.transaction, parsed.proposal, parsed.response
        )
        tx_id = proposal.tx_id
        if payload.channel != self.channel.name or proposal.invocation.channel != self.channel.name:
            return _Refused(tx_id, V.BAD_CHANNEL)
        try:
            creator = self.channel.msp.validate(payload.creator, at_ms)
        except MembershipError:
            return _Refused(tx_id, V.UNKNOWN_IDENTITY)
        if proposal.creator != payload.creator:
            return _Refused(tx_id, V.BAD_CREATOR_SIGNATURE)
        if compute_tx_id(proposal.invocation) != tx_id or response.tx_id != tx_id:
            return _Refused(tx_id, V.BAD_TXID)
        creator_check: Check = (creator.body.public_key, envelope.payload, envelope.signature)
        chaincode = proposal.invocation.chaincode
        verdict: ValidationCode | None = None
        if response.proposal_hash != sha256(transaction.proposal):
            verdict = V.BAD_PAYLOAD
        elif self.channel.definition(chaincode) is None:
            verdict = V.UNKNOWN_CHAINCODE
        elif response.status != STATUS_OK:
            verdict = V.CHAINCODE_ERROR
        if verdict is not None:  # only the creator's signature matters now: is the id theirs?
            return _Parsed(tx_id, proposal.timestamp_ms, chaincode, response.rwset, [creator_check], [], [], verdict)
        checks: list[Check] = [creator_check]
        endorsers: list[Identity] = []
        for endorsement in transaction.endorsements:
            identity = self._member(endorsement.endorser, at_ms)
            if identity is not None:
                endorsers.append(identity)
                checks.append((identity.body.public_key, transaction.response_payload, endorsement.signature))
        approvers: list[Identity] = []
        if response.rwset.writes and self.channel.approval_policy(chaincode) is not None:
            message = signoff_message("approval", tx_id)
            for signoff in proposal.signoffs:
                identity = self._member(signoff.signer, at_ms) if signoff.kind == "approval" else None
                if identity is not None:
                    approvers.append(identity)
                    checks.append((identity.body.public_key, message, signoff.signature))
        return _Parsed(tx_id, proposal.timestamp_ms, chaincode, response.rwset, checks, endorsers, approvers)

    def _member(self, cert_bytes: bytes, at_ms: int | None) -> Identity | None:
        try:
            return self.channel.msp.validate(cert_bytes, at_ms)
        except MembershipError:
            return None


def _same_range(range_read: RangeRead, state: ValidationState, updates: dict[str, Version | None]) -> bool:
    """Re-run a range scan over committed state plus this block's earlier valid writes."""
    now = {key: version for key, _, version in state.range(range_read.start, range_read.end)}
    for key, version in updates.items():
        if range_read.start <= key < range_read.end:
            if version is None:
                now.pop(key, None)
            else:
                now[key] = version
    seen = {read.key: read.version for read in range_read.reads}
    return now == seen
