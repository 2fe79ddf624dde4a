"""The chain check: re-check one node's block files and state, and name the first fault.

Each block decodes, links to the previous block's hash, carries the Merkle root of its
transactions and a valid orderer signature; the block index points at every record;
replaying validation from genesis gives the same validation flags and commit hashes; and
the node's state database (state, history, tx index, savepoint) equals the one rebuilt
from its blocks, row by row. Every fault has a stable code (`VerifyCode`) and names its
block or key; a database that cannot be read is a fault too, never an exception. A live peer runs it on its own files; the network-wide
`gridledger verify` (ledger.tools.verify) runs it for every node and compares them.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Protocol

import msgspec

from ledger.commit.chain_report import ChainReport as ChainReport
from ledger.commit.txindex import index_rows
from ledger.core.blocks import ZERO_HASH, genesis_problem, seal_problem
from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.codes import VerifyCode, validation_code_name
from ledger.core.encoding import decode
from ledger.core.messages import Block, Version, block_hash, commit_hash
from ledger.storage.blockstore import BlockStore, BlockStoreCorruption, index_problem
from ledger.storage.statedb import StateDB
from ledger.validate.validator import Validator

PROBLEMS_MAX = 50
DERIVED_TABLES = (("history", VerifyCode.HISTORY_MISMATCH), ("txindex", VerifyCode.TXINDEX_MISMATCH))  # compared row by row after the state


class StateView(Protocol):
    """One consistent read of a state database (`StateDB.snapshot()`): the savepoint and the
    keys it describes, read in the same transaction."""

    def savepoint(self) -> tuple[int, bytes] | None: ...

    def iter_state(self) -> Generator[tuple[str, bytes, Version], None, None]: ...

    def iter_rows(self, table: str) -> Iterator[tuple[Any, ...]]: ...  # history / txindex, primary-key order


def verify_chain(
    node: str,
    blocks_dir: Path,
    genesis: Block,
    state_url: str | None,
    *,
    replay: bool = True,
    state: StateView | None = None,
    height: int | None = None,
    hashes: list[bytes] | None = None,
    live: bool = False,
) -> ChainReport:
    """Check one node's block files (and, with `state_url`, its state database: state,
    history, tx index, savepoint).

    A live peer passes `state`, a snapshot it holds open, and `height`, the blocks that
    snapshot has applied: blocks past it are being committed meanwhile and are not checked
    (nor is a record half appended after them, nor the index), and no lock of the peer is
    held; its savepoint, state, history and tx index are compared through the snapshot. `live` says the same of
    a running orderer's files. `hashes` collects every block's header hash (to compare
    chains block by block)."""
    live = live or height is not None
    report = ChainReport(node)
    channel = Channel(genesis_config(genesis))
    if not blocks_dir.exists():
        report.fault(VerifyCode.BLOCKS_MISSING, f"no block files at {blocks_dir}")
        return report
    with tempfile.TemporaryDirectory(prefix="gridledger-verify-") as scratch_dir:
        scratch = StateDB(f"sqlite:///{Path(scratch_dir) / 'replay.sqlite'}") if replay else None
        try:
            _walk(report, blocks_dir, genesis, channel, scratch, hashes, height, live)
            if not report.problems and not live:
                found = index_problem(blocks_dir, report.height)
                if found is not None:
                    report.fault(VerifyCode.INDEX_MISMATCH, f"block index: {found[1]}", block=found[0])
            if scratch is not None and state is not None and not report.problems:
                _compare_live_state(report, state, scratch)
            elif scratch is not None and state_url is not None and not report.problems:
                _compare_databases(report, state_url, scratch)
        finally:
            if scratch is not None:
                scratch.close()
    return report


def _walk(
    report: ChainReport, blocks_dir: Path, genesis: Block, channel: Channel, scratch: StateDB | None, hashes: list[bytes] | None, height: int | None, live: bool
) -> None:
    validator = Validator(channel)
    previous_hash, previous_commit = None, ZERO_HASH
    try:
        store = BlockStore(blocks_dir, read_only=True)
    except BlockStoreCorruption as exc:
        report.fault(VerifyCode.BLOCK_CORRUPT, f"record corrupt ({exc.reason}) in {exc.path.name} at offset {exc.offset}", block=exc.number)
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
            if hashes is not None:
                hashes.append(previous_hash)
            report.height = number + 1
            report.commit_hash = previous_commit.hex()
            report.last_block_hash = previous_hash.hex()
        if store.torn_tail and (not live or (height is not None and store.height < height)):
            report.fault(VerifyCode.BLOCK_TORN, "torn (incomplete) record at the end of the block files", block=store.height)
    finally:
        store.close()


def _blocks(store: BlockStore, report: ChainReport) -> Iterator[tuple[int, bytes]]:
    try:
        yield from store.iter_blocks(0)
    except BlockStoreCorruption as exc:
        report.fault(VerifyCode.BLOCK_CORRUPT, f"record corrupt ({exc.reason})", block=exc.number)


def _decode(report: ChainReport, number: int, data: bytes) -> Block | None:
    try:
        return decode(data, Block)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        report.fault(VerifyCode.BLOCK_CORRUPT, f"cannot be decoded ({exc})", block=number)
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
        report.fault(VerifyCode.GENESIS_MISMATCH if number == 0 else VerifyCode.BLOCK_SEAL, problem, block=number)
    return not problem


def _replay(report: ChainReport, number: int, block: Block, validator: Validator, scratch: StateDB, previous_commit: bytes) -> bool:
    result = validator.validate(block, scratch)
    stored = block.metadata.validation_flags
    for tx_num, code in enumerate(result.codes):
        stored_code = stored[tx_num] if tx_num < len(stored) else None
        if stored_code != code:
            stored_name = "missing" if stored_code is None else validation_code_name(stored_code)
            report.fault(VerifyCode.FLAG_MISMATCH, f"tx {tx_num} ({result.tx_ids[tx_num][:16]}): stored flag {stored_name}, replay gives {code.name}", block=number)
            return False
    writes = result.writes()
    expected = commit_hash(previous_commit, number, [(tx_num, w) for tx_num, _, _, w in writes])
    if expected != block.metadata.commit_hash:
        report.fault(VerifyCode.COMMIT_HASH_MISMATCH, "commit hash does not match its valid writes", block=number)
        return False
    scratch.apply_block(number, expected, writes, index_rows(result.tx_ids, result.codes))
    return True


def _compare_databases(report: ChainReport, state_url: str, rebuilt: StateDB) -> None:
    """Savepoint, state, history and tx index against the rebuild; a database that cannot be
    opened or read (a malformed file, a lost server) is a fault, not an exception."""
    try:
        state = StateDB(state_url)
    except Exception as exc:  # SQLAlchemy/driver errors have no common root worth naming here
        report.fault(VerifyCode.DATABASE_UNREADABLE, f"state database cannot be opened: {type(exc).__name__}: {exc}")
        return
    try:
        with state.snapshot() as snapshot:
            if not _savepoint_sound(report, snapshot):
                return
            _compare_rows(report, VerifyCode.STATE_MISMATCH, "state key", snapshot.iter_state(), rebuilt.iter_state(), 1)
        for table, code in DERIVED_TABLES:
            if not report.problems:
                _compare_rows(report, code, f"{table} row", state.iter_rows(table), rebuilt.iter_rows(table), StateDB.key_width(table))
    except Exception as exc:
        report.fault(VerifyCode.DATABASE_UNREADABLE, f"state database cannot be read: {type(exc).__name__}: {exc}")
    finally:
        state.close()


def _compare_live_state(report: ChainReport, state: StateView, rebuilt: StateDB) -> None:
    """A running peer's snapshot: savepoint, state, history and tx index, all read in the one
    read transaction the snapshot holds (the blocks the rebuild replayed are exactly the ones
    it has applied), so commits go on meanwhile and are not mistaken for faults."""
    try:
        if _savepoint_sound(report, state):
            _compare_rows(report, VerifyCode.STATE_MISMATCH, "state key", state.iter_state(), rebuilt.iter_state(), 1)
        for table, code in DERIVED_TABLES:
            if not report.problems:
                _compare_rows(report, code, f"{table} row", state.iter_rows(table), rebuilt.iter_rows(table), StateDB.key_width(table))
    except Exception as exc:  # driver errors: a fault of the database, named
        report.fault(VerifyCode.DATABASE_UNREADABLE, f"state database cannot be read: {type(exc).__name__}: {exc}")


def _savepoint_sound(report: ChainReport, state: StateView) -> bool:
    savepoint = state.savepoint()
    if savepoint is None or savepoint[0] + 1 != report.height:
        applied = -1 if savepoint is None else savepoint[0]
        report.fault(VerifyCode.SAVEPOINT_MISMATCH, f"state database applied up to block {applied} but the chain has {report.height} blocks (restart the peer to roll forward)")
        return False
    if savepoint[1].hex() != report.commit_hash:
        report.fault(VerifyCode.SAVEPOINT_MISMATCH, "state database savepoint commit hash differs from the last block's")
        return False
    return True


def _compare_rows(report: ChainReport, code: VerifyCode, label: str, actual_rows: Iterator[tuple[Any, ...]], expected_rows: Iterator[tuple[Any, ...]], width: int) -> None:
    """Walk both row streams in key order; name the first row that differs."""
    with contextlib.closing(actual_rows) as actual, contextlib.closing(expected_rows) as expected:  # type: ignore[type-var]
        a, e = next(actual, None), next(expected, None)
        while a is not None or e is not None:
            if a == e:
                a, e = next(actual, None), next(expected, None)
                continue
            if e is None or (a is not None and a[:width] < e[:width]):
                assert a is not None
                report.fault(code, f"{label} {_key(a, width)!r}: present in the state database but written by no block", key=_key(a, width))
            elif a is None or e[:width] < a[:width]:
                report.fault(code, f"{label} {_key(e, width)!r}: missing from the state database", key=_key(e, width))
            else:
                report.fault(code, f"{label} {_key(a, width)!r}: value or version differs from what the blocks wrote", key=_key(a, width))
            return


def _key(row: tuple[Any, ...], width: int) -> str:
    return "/".join(str(part) for part in row[:width]) if width > 1 else str(row[0])
