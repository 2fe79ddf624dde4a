"""Step 4 of execute → order → validate → commit: apply a validated block.

The committer stamps the block with its validation flags and the commit hash (which chains
the valid writes, so peers can compare their state), appends it to the block files (fsync),
then applies the valid writes, history and transaction index to the state database in one
transaction with the savepoint. Block first, state second: after a crash between the two,
`recover` rolls the state forward from the blocks.
"""

from __future__ import annotations

import os

import structlog

from ledger.commit.txindex import event_tx_ids, index_rows
from ledger.core.blocks import ZERO_HASH
from ledger.core.codes import ValidationCode
from ledger.core.encoding import decode, encode
from ledger.core.messages import Block, BlockMetadata, CommitEvent, KVWrite, commit_hash
from ledger.core.transactions import parse_endorser_transaction
from ledger.storage.blockstore import BlockStore
from ledger.storage.statedb import StateDB
from ledger.validate.validator import Validator

log = structlog.get_logger("committer")

CRASH_ENV = "GRIDLEDGER_CRASH_AFTER_APPEND"  # "<peer name>:<block number>": fault injection for crash tests
Writes = list[tuple[int, str, int, KVWrite]]  # (tx_num, tx_id, timestamp_ms, write) of valid transactions


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

    def commit(self, block: Block) -> CommitEvent:
        """Validate (step 3), append, apply (step 4): block first, state second."""
        number = block.header.number
        assert number == self.store.height, f"{self.name}: block {number} arrives at height {self.store.height}"
        with self.state.committer_reads() as committed:
            result = self.validator.validate(block, committed)
        writes = result.writes()
        chained = commit_hash(self.previous_commit_hash(), number, [(tx_num, write) for tx_num, _, _, write in writes])
        flags = bytes(result.codes)
        stamped = Block(block.header, block.data, block.orderer_signature, BlockMetadata(flags, chained))
        self.store.append(number, encode(stamped))
        _maybe_crash(self.name, number)
        self.state.apply_block(number, chained, writes, index_rows(result.tx_ids, result.codes))
        self._last_commit_hash = chained
        return CommitEvent(number, event_tx_ids(result.tx_ids, result.codes), flags, chained)

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


def stored_writes(block: Block) -> tuple[Writes, list[tuple[str, int, int]]]:
    """The writes and tx index rows of a committed block, from its stored validation flags
    (the same rows the live commit wrote: `index_rows` decides for both)."""
    writes: Writes = []
    tx_ids: list[str] = []
    flags = block.metadata.validation_flags
    codes = [flags[i] if i < len(flags) else ValidationCode.NOT_VALIDATED for i in range(len(block.data))]
    for tx_num, envelope_bytes in enumerate(block.data):
        parsed = parse_endorser_transaction(envelope_bytes)
        tx_ids.append(parsed.tx_id if parsed is not None else "")
        if parsed is not None and codes[tx_num] == ValidationCode.VALID:
            writes.extend((tx_num, parsed.tx_id, parsed.proposal.timestamp_ms, w) for w in parsed.response.rwset.writes)
    return writes, index_rows(tx_ids, codes)


def _maybe_crash(peer: str, number: int) -> None:
    target = os.environ.get(CRASH_ENV)
    if target and target == f"{peer}:{number}":
        log.warning("crash_injected", peer=peer, block=number)
        os._exit(86)
