"""Step 2, start-up: open the orderer's block files, repairing damage from a peer's copy.

An orderer must never cut a second, different block under a number it may already have
delivered: every peer would reject it and the channel would stop (or fork). So when the
orderer's block files are damaged (a flipped byte, a length field that runs past the end;
see `ledger.storage.blockstore` for what counts as a mere torn tail), it does not cut
them back and carry on. It takes the damaged block and every block after it from the
peers' copies instead, each checked before use: the header number, the hash link to the
orderer's own last intact block, the Merkle root and an orderer signature the channel
accepts. The peers' metadata (their validation flags) is stripped, so the repaired record
is the one the orderer sealed. If no peer holds verified copies up to the height the
orderer had stored, it refuses to start with ORDERER_DAMAGED, changing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import msgspec
import structlog

from ledger.core.blocks import EMPTY_METADATA, genesis_problem, seal_problem
from ledger.core.channel import Channel
from ledger.core.encoding import decode, encode
from ledger.core.errors import StorageCorruption
from ledger.core.messages import Block, block_hash
from ledger.storage.blockstore import INDEX_ENTRY, INDEX_NAME, BlockStore, BlockStoreCorruption, cut_damaged

log = structlog.get_logger("orderer")

BlockCopies = Callable[[int], Iterator[bytes]]  # a peer's stored blocks from a number on


class OrdererDamaged(StorageCorruption):
    """The orderer's block files are damaged and no peer holds a verified copy to repair
    them: starting would re-cut a number the orderer may have delivered."""

    def __init__(self, number: int, why: str) -> None:
        super().__init__(f"the orderer's block {number} is damaged and cannot be repaired: {why}", "ORDERER_DAMAGED")
        self.number = number


def open_orderer_store(directory: Path, genesis: Block, channel: Channel, copies: Sequence[BlockCopies]) -> BlockStore:
    """The orderer's block store, repaired from `copies` (the peers' block files) if damaged."""
    try:
        return BlockStore(directory)
    except BlockStoreCorruption as damage:
        if damage.number is None or damage.path.name == INDEX_NAME:
            raise OrdererDamaged(damage.number or 0, str(damage)) from None
        number = damage.number
        previous_hash = _last_intact_hash(directory, number)
        needed = max(number + 1, _index_entries(directory))
        repair = max((verified_run(source, number, previous_hash, genesis, channel) for source in copies), key=len, default=[])
        if number + len(repair) < needed:
            raise OrdererDamaged(number, f"{damage.reason}; the peers hold verified copies up to block {number + len(repair) - 1}, the orderer had {needed} blocks") from None
        cut_damaged(directory, damage)
        store = BlockStore(directory)
        assert store.height == number, f"repair cut the orderer to {store.height}, expected {number}"
        for offset, block_bytes in enumerate(repair):
            store.append(number + offset, block_bytes)
        log.warning("orderer.repaired", block=number, blocks_restored=len(repair), height=store.height, reason=damage.reason)
        return store


def _last_intact_hash(directory: Path, number: int) -> bytes | None:
    """Header hash of block `number - 1` as the orderer stored it (None before genesis)."""
    if number == 0:
        return None
    with BlockStore(directory, read_only=True, height_max=number) as prefix:
        if prefix.height != number:
            raise OrdererDamaged(number, f"only {prefix.height} intact blocks precede it")
        return block_hash(decode(prefix.get(number - 1), Block).header)


def _index_entries(directory: Path) -> int:
    """How many blocks the damaged store's index lists: a lower bound of what was stored."""
    index = directory / INDEX_NAME
    return index.stat().st_size // INDEX_ENTRY.size if index.exists() else 0


def verified_run(source: BlockCopies, number: int, previous_hash: bytes | None, genesis: Block, channel: Channel) -> list[bytes]:
    """The longest run of blocks from `number` in `source` that seal onto `previous_hash`,
    re-encoded as the orderer stores them (peer metadata stripped). A peer's repair uses it
    too (`ledger.peer.repair`)."""
    run: list[bytes] = []
    try:
        for data in source(number):
            block = decode(data, Block)
            expected = number + len(run)
            if block.header.number != expected:
                break
            if expected == 0:
                if genesis_problem(block, genesis):
                    break
                run.append(encode(genesis))
            else:
                if seal_problem(block, previous_hash, channel):
                    break
                run.append(encode(Block(block.header, block.data, block.orderer_signature, EMPTY_METADATA)))
            previous_hash = block_hash(block.header)
    except (BlockStoreCorruption, msgspec.DecodeError, msgspec.ValidationError, OSError) as exc:
        log.warning("orderer.repair_copy_unusable", block=number + len(run), error=str(exc))
    return run
