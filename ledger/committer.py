"""Step 4 of execute → order → validate → commit: apply a validated block.

The committer stamps the block with its validation flags and the commit hash (which chains
the valid writes, so peers can compare their state), appends it to the block files (fsync),
then applies the valid writes, history and transaction index to the state database in one
transaction with the savepoint. Block first, state second: after a crash between the two,
`recover` rolls the state forward from the blocks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import structlog

from ledger.blockstore import BlockStore
from ledger.encoding import decode, encode
from ledger.messages import (
    Block,
    BlockMetadata,
    EndorsedTransaction,
    Envelope,
    KVWrite,
    Payload,
    PayloadType,
    Proposal,
    ResponsePayload,
    ValidationCode,
    commit_hash,
)
from ledger.statedb import StateDB
from ledger.validator import ValidationResult, Validator

log = structlog.get_logger("committer")

ZERO_HASH = bytes(32)
CRASH_ENV = "GRIDLEDGER_CRASH_AFTER_APPEND"  # "<peer name>:<block number>": fault injection for crash tests


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What a commit event tells listeners."""

    number: int
    tx_ids: list[str]
    codes: list[ValidationCode]
    commit_hash: bytes


class Committer:
    def __init__(self, name: str, store: BlockStore, state: StateDB, validator: Validator) -> None:
        self.name = name
        self.store = store
        self.state = state
        self.validator = validator
        self._last_commit_hash: bytes | None = None  # cached: the committer is the only writer

    def previous_commit_hash(self) -> bytes:
        if self._last_commit_hash is None:
            savepoint = self.state.savepoint()
            return savepoint[1] if savepoint else ZERO_HASH
        return self._last_commit_hash

    def commit(self, block: Block) -> CommitOutcome:
        number = block.header.number
        assert number == self.store.height, f"{self.name}: block {number} arrives at height {self.store.height}"
        result = self.validator.validate(block, self.state)
        writes = result.writes()
        chained = commit_hash(self.previous_commit_hash(), number, [(tx_num, write) for tx_num, _, _, write in writes])
        stamped = Block(block.header, block.data, block.orderer_signature, BlockMetadata(bytes(result.codes), chained))
        self.store.append(number, encode(stamped))
        _maybe_crash(self.name, number)
        self._apply(number, chained, writes, result)
        self._last_commit_hash = chained
        return CommitOutcome(number, result.tx_ids, result.codes, chained)

    def _apply(self, number: int, chained: bytes, writes: list[tuple[int, str, int, KVWrite]], result: ValidationResult) -> None:
        txs = [(tx_id, tx_num, int(code)) for tx_num, (tx_id, code) in enumerate(zip(result.tx_ids, result.codes)) if tx_id]
        self.state.apply_block(number, chained, writes, txs)

    def recover(self) -> int:
        """Roll the state forward over blocks that were appended but not applied; returns how many."""
        savepoint = self.state.savepoint()
        if savepoint is not None and savepoint[0] >= self.store.height:
            # The block files lost blocks the state already applied (a cut torn tail, a restored
            # backup): the state is derived data, so rebuild it from the blocks that remain.
            log.warning("state_ahead_of_blocks", peer=self.name, state_block=savepoint[0], height=self.store.height)
            self.state.reset()
            self._last_commit_hash = None
            savepoint = None
        next_number = savepoint[0] + 1 if savepoint else 0
        applied = 0
        for number, data in self.store.iter_blocks(next_number):
            block = decode(data, Block)
            writes, txs = stored_writes(block)
            self.state.apply_block(number, block.metadata.commit_hash, writes, txs)
            self._last_commit_hash = block.metadata.commit_hash
            applied += 1
        if applied:
            log.warning("state_rolled_forward", peer=self.name, blocks=applied, height=self.store.height)
        return applied


def stored_writes(block: Block) -> tuple[list[tuple[int, str, int, KVWrite]], list[tuple[str, int, int]]]:
    """The writes and tx index rows of a committed block, from its stored validation flags."""
    writes: list[tuple[int, str, int, KVWrite]] = []
    txs: list[tuple[str, int, int]] = []
    flags = block.metadata.validation_flags
    for tx_num, envelope_bytes in enumerate(block.data):
        parts = decode_endorser_tx(envelope_bytes)
        if parts is None:
            continue
        proposal, response = parts
        code = flags[tx_num] if tx_num < len(flags) else ValidationCode.NOT_VALIDATED
        txs.append((proposal.tx_id, tx_num, code))
        if code == ValidationCode.VALID:
            writes.extend((tx_num, proposal.tx_id, proposal.timestamp_ms, w) for w in response.rwset.writes)
    return writes, txs


def decode_endorser_tx(envelope_bytes: bytes) -> tuple[Proposal, ResponsePayload] | None:
    """Proposal and response of an endorser transaction, or None (config or undecodable)."""
    try:
        payload = decode(decode(envelope_bytes, Envelope).payload, Payload)
        if payload.type != PayloadType.ENDORSER_TRANSACTION:
            return None
        transaction = decode(payload.data, EndorsedTransaction)
        return decode(transaction.proposal, Proposal), decode(transaction.response_payload, ResponsePayload)
    except Exception:  # undecodable transactions were marked BAD_PAYLOAD and wrote nothing
        return None


def _maybe_crash(peer: str, number: int) -> None:
    target = os.environ.get(CRASH_ENV)
    if target and target == f"{peer}:{number}":
        log.warning("crash_injected", peer=peer, block=number)
        os._exit(86)
