"""A stopped peer's repair: restore its damaged blocks from verified copies, rebuild its state.

A peer whose block files are damaged (a flipped byte, a record out of place: anything but a
torn final record, see `ledger.storage.blockstore`) refuses to start with STORAGE_CORRUPT,
naming `gridledger repair`. The repair is an explicit step, never automatic on start: it
rewrites a node's files, and an operator should see that it happens and what it kept.

It finds the first block that is not sound (the chain check, `ledger.commit.chain_check`:
record CRC, hash link, Merkle root, orderer signature, and the validation flags and commit
hash replay gives), moves that block and everything after it into `damaged-*` files beside
the block files, drops the block index (derived; rebuilt from the records), and takes the
missing blocks from the copies it is given (the orderer's files, the other peers'), each
checked before use exactly as the orderer's repair checks them (number, hash link to the
last intact block, Merkle root, orderer signature; `ledger.order.repair.verified_run`). The
blocks are committed again through the peer's own committer, so validation flags and commit
hashes are recomputed, not copied; state, history and tx index are rebuilt from the blocks.
Blocks no copy holds are left to the peer's catch-up from the orderer on its next start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ledger.commit.chain_check import verify_chain
from ledger.commit.committer import Committer
from ledger.core.channel import Channel
from ledger.core.codes import VerifyCode
from ledger.core.encoding import decode
from ledger.core.errors import StorageCorruption
from ledger.core.messages import Block, block_hash
from ledger.order.repair import BlockCopies, verified_run
from ledger.storage.blockstore import DAMAGED_PREFIX, INDEX_NAME, RECORD_HEADER, BlockStore, BlockStoreCorruption, cut_damaged, unused_path
from ledger.storage.statedb import StateDB
from ledger.validate.validator import Validator

log = structlog.get_logger("peer.repair")

# Faults of the chain check that are damage of the block records themselves (from that block on
# the records are replaced); the others are derived data the rebuild replaces anyway.
BLOCK_FAULTS = frozenset({VerifyCode.BLOCK_CORRUPT, VerifyCode.BLOCK_SEAL, VerifyCode.GENESIS_MISMATCH, VerifyCode.FLAG_MISMATCH, VerifyCode.COMMIT_HASH_MISMATCH})


class RepairFailed(StorageCorruption):
    """The peer cannot be repaired (nothing was changed): the message says why."""

    def __init__(self, peer: str, why: str) -> None:
        super().__init__(f"{peer} cannot be repaired: {why}", "REPAIR_FAILED")


@dataclass
class RepairReport:
    """What a repair found and did (printed by `gridledger repair`)."""

    peer: str
    damaged_from: int | None = None  # first block replaced; None when the block files were sound
    reason: str = ""  # the first fault found, as the chain check names it
    blocks_cut: int = 0  # blocks moved out of the block files (kept in `kept`)
    blocks_restored: int = 0  # verified blocks committed again from a copy
    height: int = 0
    state_rebuilt: bool = False
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "damaged_from": self.damaged_from,
            "reason": self.reason,
            "blocks_cut": self.blocks_cut,
            "blocks_restored": self.blocks_restored,
            "height": self.height,
            "state_rebuilt": self.state_rebuilt,
            "kept": self.kept,
        }


def repair_peer(name: str, directory: Path, state_url: str, genesis: Block, channel: Channel, copies: Sequence[BlockCopies]) -> RepairReport:
    """Repair the stopped peer `name` whose node directory is `directory` (see the module)."""
    blocks_dir = directory / "blocks"
    report = RepairReport(name)
    if not blocks_dir.is_dir():
        raise RepairFailed(name, f"it has no block files at {blocks_dir}")
    first_bad = _first_damaged_block(name, blocks_dir, genesis, report)
    (blocks_dir / INDEX_NAME).unlink(missing_ok=True)  # derived: the open below rebuilds it from the records
    store = _open_cutting_damage(name, blocks_dir, report)
    try:
        if first_bad is not None and first_bad < store.height:
            _cut_sound_records(store, first_bad, report)
        state = _fresh_state(name, state_url, report)
        try:
            committer = Committer(name, store, state, Validator(channel))
            committer.recover()  # the intact blocks before the damage, from their stored flags
            report.state_rebuilt = True
            _restore(name, store, committer, genesis, channel, copies, report)
        finally:
            state.close()
        report.height = store.height
    finally:
        store.close()
    log.warning("peer.repaired", **report.as_dict())
    return report


def _first_damaged_block(name: str, blocks_dir: Path, genesis: Block, report: RepairReport) -> int | None:
    """The first block whose record is not sound, by the chain check over the files as they are."""
    checked = verify_chain(name, blocks_dir, genesis, None, replay=True)
    for fault in checked.faults:
        if fault["code"] in BLOCK_FAULTS and fault.get("block") is not None:
            report.reason = f"{fault['code']}: {fault['message']}"
            return int(fault["block"])
        if fault["code"] == VerifyCode.BLOCK_CORRUPT:  # no block named: a data file missing from the sequence
            raise RepairFailed(name, fault["message"])
    return None


def _open_cutting_damage(name: str, blocks_dir: Path, report: RepairReport) -> BlockStore:
    """The block store opened for writing, a damaged record (and all after it) cut into
    `damaged-*` files first (a torn final record is cut by the open itself, as on start)."""
    try:
        return BlockStore(blocks_dir)
    except BlockStoreCorruption as exc:
        damage = exc
    if damage.number is None:
        raise RepairFailed(name, str(damage))
    cut_from = damage.number
    kept = cut_damaged(blocks_dir, damage)
    report.kept.extend(str(k) for k in kept)
    store = BlockStore(blocks_dir)
    assert store.height == cut_from, f"repair cut {name} to {store.height}, expected {cut_from}"
    report.damaged_from = cut_from
    report.reason = report.reason or f"{VerifyCode.BLOCK_CORRUPT}: {damage.reason}"
    report.blocks_cut = _records_in(kept)
    return store


def _records_in(kept: Sequence[Path]) -> int:
    """How many whole records the cut bytes hold (at least the damaged one)."""
    count = 0
    for path in kept:
        data = path.read_bytes()
        at = 0
        while at < len(data):
            length = int.from_bytes(data[at : at + 4], "big") if at + RECORD_HEADER.size <= len(data) else 0
            if length <= 0 or at + RECORD_HEADER.size + length > len(data):
                count += 1  # the damaged record (its length may be the damage) and what follows it
                break
            count, at = count + 1, at + RECORD_HEADER.size + length
    return max(count, 1)


def _cut_sound_records(store: BlockStore, number: int, report: RepairReport) -> None:
    """Records that pass their CRC but not the chain check (a tampered block whose CRC was
    recomputed): keep their payloads in a `damaged-*` file, then truncate the store there."""
    keep = unused_path(store.directory / f"{DAMAGED_PREFIX}{number:08d}-payloads.bin")
    cut = 0
    with open(keep, "wb") as out:
        for _, data in store.iter_blocks(number):
            out.write(len(data).to_bytes(4, "big") + data)
            cut += 1
    report.kept.append(str(keep))
    report.blocks_cut += cut
    report.damaged_from = number
    store.truncate(number)


def _fresh_state(name: str, state_url: str, report: RepairReport) -> StateDB:
    """The peer's state database emptied for the rebuild; an SQLite file that cannot even be
    opened (malformed) is moved aside and started anew."""
    try:
        state = StateDB(state_url)
        state.reset()
        return state
    except Exception as exc:  # driver errors of a damaged database have no common root
        path = _sqlite_path(state_url)
        if path is None or not path.exists():
            raise RepairFailed(name, f"its state database cannot be opened: {type(exc).__name__}: {exc}") from None
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{path}{suffix}")
            if part.exists():
                target = unused_path(part.with_name(f"{DAMAGED_PREFIX}{part.name}"))
                part.replace(target)
                report.kept.append(str(target))
        return StateDB(state_url)


def _sqlite_path(state_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(state_url[len(prefix) :]) if state_url.startswith(prefix) else None


def _restore(name: str, store: BlockStore, committer: Committer, genesis: Block, channel: Channel, copies: Sequence[BlockCopies], report: RepairReport) -> None:
    """Commit the longest verified run of blocks from `store.height` on that a copy holds."""
    number = store.height
    previous_hash = block_hash(decode(store.get(number - 1), Block).header) if number else None
    run = max((verified_run(source, number, previous_hash, genesis, channel) for source in copies), key=len, default=[])
    for block_bytes in run:
        committer.commit(decode(block_bytes, Block))  # validated and stamped again, as on a live commit
    report.blocks_restored = len(run)
    if report.damaged_from is not None and not run:
        log.warning("peer.repair_no_copy", peer=name, block=number, action="the peer catches up from the orderer on start")
