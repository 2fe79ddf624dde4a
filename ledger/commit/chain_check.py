"""The chain check: re-check one node's block files and state, and name the first fault.

Each block decodes, links to the previous block's hash, carries the Merkle root of its
transactions and a valid orderer signature; replaying validation from genesis gives the
same validation flags and commit hashes; and the node's state database equals the state
rebuilt from its blocks, key by key. A live peer runs it on its own files; the network-wide
`gridledger verify` (ledger.tools.verify) runs it for every node and compares them.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Protocol

import msgspec

from ledger.commit.txindex import index_rows
from ledger.core.blocks import ZERO_HASH, genesis_problem, seal_problem
from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.codes import validation_code_name
from ledger.core.encoding import decode
from ledger.core.messages import Block, Version, block_hash, commit_hash
from ledger.storage.blockstore import BlockStore, BlockStoreCorruption
from ledger.storage.statedb import StateDB
from ledger.validate.validator import Validator

PROBLEMS_MAX = 50


class ChainReport(msgspec.Struct):
    """One node's chain as checked: how far it is sound and what is wrong (first fault first)."""

    node: str
    height: int = 0
    commit_hash: str = ""
    problems: list[str] = msgspec.field(default_factory=list)


class StateView(Protocol):
    """One consistent read of a state database (`StateDB.snapshot()`): the savepoint and the
    keys it describes, read in the same transaction."""

    def savepoint(self) -> tuple[int, bytes] | None: ...

    def iter_state(self) -> Generator[tuple[str, bytes, Version], None, None]: ...


def verify_chain(
    node: str, blocks_dir: Path, genesis: Block, state_url: str | None, *, replay: bool = True, state: StateView | None = None, height: int | None = None
) -> ChainReport:
    """Check one node's block files (and, with `state_url`, its state database).

    A live peer passes `state`, a snapshot it holds open, and `height`, the blocks that
    snapshot has applied: blocks past it are being committed meanwhile and are not checked
    (nor is a record half appended after them), and no lock of the peer is held."""
    report = ChainReport(node)
    channel = Channel(genesis_config(genesis))
    if not blocks_dir.exists():
        report.problems.append(f"no block files at {blocks_dir}")
        return report
    with tempfile.TemporaryDirectory(prefix="gridledger-verify-") as scratch_dir:
        scratch = StateDB(f"sqlite:///{Path(scratch_dir) / 'replay.sqlite'}") if replay else None
        try:
            _walk(report, blocks_dir, genesis, channel, scratch, height)
            if scratch is not None and state is not None and not report.problems:
                _compare_state(report, state, scratch)
            elif scratch is not None and state_url is not None and not report.problems:
                database = StateDB(state_url)
                try:
                    with database.snapshot() as snapshot:
                        _compare_state(report, snapshot, scratch)
                finally:
                    database.close()
        finally:
            if scratch is not None:
                scratch.close()
    return report


def _walk(report: ChainReport, blocks_dir: Path, genesis: Block, channel: Channel, scratch: StateDB | None, height: int | None) -> None:
    validator = Validator(channel)
    previous_hash, previous_commit = None, ZERO_HASH
    try:
        store = BlockStore(blocks_dir, read_only=True)
    except BlockStoreCorruption as exc:
        report.problems.append(f"block file corrupt: {exc}")
        return
    try:
        for number, data in _blocks(store, report):
            if height is not None and number >= height:
                return  # committed after the snapshot: the next check sees it
            block = _decode(report, number, data)
            if block is None or not _check_links(report, number, block, previous_hash, genesis, channel):
                return
            if scratch is not None and not _replay(report, number, block, validator, scratch, previous_commit):
                return
            previous_hash, previous_commit = block_hash(block.header), block.metadata.commit_hash
            report.height = number + 1
            report.commit_hash = previous_commit.hex()
        if store.torn_tail and (height is None or store.height < height):
            report.problems.append(f"block {store.height}: torn (incomplete) record at the end of the block files")
    finally:
        store.close()


def _blocks(store: BlockStore, report: ChainReport) -> Iterator[tuple[int, bytes]]:
    try:
        yield from store.iter_blocks(0)
    except BlockStoreCorruption as exc:
        report.problems.append(f"block {exc.number}: record corrupt ({exc.reason})")


def _decode(report: ChainReport, number: int, data: bytes) -> Block | None:
    try:
        return decode(data, Block)
    except Exception as exc:
        report.problems.append(f"block {number}: cannot be decoded ({exc})")
        return None


def _check_links(report: ChainReport, number: int, block: Block, previous_hash: bytes | None, genesis: Block, channel: Channel) -> bool:
    header = block.header
    problem = ""
    if header.number != number:
        problem = f"header says number {header.number}"
    elif number == 0:
        problem = genesis_problem(block, genesis)
    else:
        problem = seal_problem(block, previous_hash, channel)
    if problem:
        report.problems.append(f"block {number}: {problem}")
    return not problem


def _replay(report: ChainReport, number: int, block: Block, validator: Validator, scratch: StateDB, previous_commit: bytes) -> bool:
    result = validator.validate(block, scratch)
    stored = block.metadata.validation_flags
    for tx_num, code in enumerate(result.codes):
        stored_code = stored[tx_num] if tx_num < len(stored) else None
        if stored_code != code:
            stored_name = "missing" if stored_code is None else validation_code_name(stored_code)
            report.problems.append(f"block {number} tx {tx_num} ({result.tx_ids[tx_num][:16]}): stored flag {stored_name}, replay gives {code.name}")
            return False
    writes = result.writes()
    expected = commit_hash(previous_commit, number, [(tx_num, w) for tx_num, _, _, w in writes])
    if expected != block.metadata.commit_hash:
        report.problems.append(f"block {number}: commit hash does not match its valid writes")
        return False
    scratch.apply_block(number, expected, writes, index_rows(result.tx_ids, result.codes))
    return True


def _compare_state(report: ChainReport, state: StateView, rebuilt: StateDB) -> None:
    """Walk both states in key order; name the first key that differs."""
    savepoint = state.savepoint()
    if savepoint is None or savepoint[0] + 1 != report.height:
        applied = -1 if savepoint is None else savepoint[0]
        report.problems.append(f"state database applied up to block {applied} but the chain has {report.height} blocks (restart the peer to roll forward)")
        return
    if savepoint[1].hex() != report.commit_hash:
        report.problems.append("state database savepoint commit hash differs from the last block's")
        return
    actual, expected = state.iter_state(), rebuilt.iter_state()
    with contextlib.closing(actual), contextlib.closing(expected):  # end both reads when done (generators)
        a, e = next(actual, None), next(expected, None)
        while a is not None or e is not None:
            if a == e:
                a, e = next(actual, None), next(expected, None)
                continue
            if e is None or (a is not None and a[0] < e[0]):
                assert a is not None
                report.problems.append(f"state key {a[0]!r}: present in the state database but written by no block")
            elif a is None or e[0] < a[0]:
                report.problems.append(f"state key {e[0]!r}: missing from the state database")
            else:
                report.problems.append(f"state key {a[0]!r}: value or version differs from what the blocks wrote")
            return

