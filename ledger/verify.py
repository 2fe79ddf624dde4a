"""`gridledger verify`: re-check a whole ledger offline and name the first thing that is wrong.

For every peer (and the orderer's chain): each block decodes, links to the previous block's
hash, carries the Merkle root of its transactions and a valid orderer signature; replaying
validation from genesis gives the same validation flags and commit hashes; and the peer's
state database equals the state rebuilt from its blocks, key by key. Finally all peers must
agree on height and commit hash.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ledger.blockstore import BlockStore, BlockStoreCorruption
from ledger.channel import Channel
from ledger.config import CONFIG_COPY_FILE, ZERO_HASH, genesis_config, load_genesis, load_spec, state_url_for
from ledger.blocks import seal_problem
from ledger.encoding import decode
from ledger.messages import Block, ValidationCode, block_hash, commit_hash
from ledger.statedb import StateDB
from ledger.validator import Validator

if TYPE_CHECKING:
    from ledger.network import Network

PROBLEMS_MAX = 50


@dataclass
class ChainReport:
    node: str
    height: int = 0
    commit_hash: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    ok: bool
    problems: list[str]
    checked_blocks: int
    chains: list[ChainReport]

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "checked_blocks": self.checked_blocks,
            "nodes": [{"node": c.node, "height": c.height, "commit_hash": c.commit_hash, "problems": c.problems} for c in self.chains],
        }


def verify_network(data_dir: Path, *, live: "Network | None" = None) -> VerifyReport:
    genesis = load_genesis(data_dir)
    config = genesis_config(genesis)
    spec = load_spec(data_dir / CONFIG_COPY_FILE)
    chains: list[ChainReport] = []
    orderer = next(n for n in config.nodes if n.role == "orderer")
    chains.append(verify_chain(f"{orderer.name}.{orderer.org}", data_dir / "orderer" / orderer.name / "blocks", genesis, None, replay=False))
    for node in (n for n in config.nodes if n.role == "peer"):
        name = f"{node.name}.{node.org}"
        url = state_url_for(spec.storage.state, data_dir, name)
        live_peer = next((p for p in live.peers if p.name == name), None) if live else None
        if live_peer is not None:
            chains.append(live_peer.verify_own_chain(genesis))  # commits pause on that peer meanwhile
        else:
            chains.append(verify_chain(name, data_dir / "peers" / name / "blocks", genesis, url))
    problems = [f"{c.node}: {p}" for c in chains for p in c.problems]
    peers = [c for c in chains[1:] if not c.problems]
    if len({(c.height, c.commit_hash) for c in peers}) > 1 and live is None:
        heights = ", ".join(f"{c.node} at {c.height} ({c.commit_hash[:12]})" for c in peers)
        problems.append(f"peers disagree on height or commit hash: {heights}")
    return VerifyReport(not problems, problems[:PROBLEMS_MAX], sum(c.height for c in chains), chains)


def verify_chain(node: str, blocks_dir: Path, genesis: Block, state_url: str | None, *, replay: bool = True) -> ChainReport:
    """Check one node's block files (and, with `state_url`, its state database)."""
    report = ChainReport(node)
    channel = Channel(genesis_config(genesis))
    if not blocks_dir.exists():
        report.problems.append(f"no block files at {blocks_dir}")
        return report
    with tempfile.TemporaryDirectory(prefix="gridledger-verify-") as scratch_dir:
        scratch = StateDB(f"sqlite:///{Path(scratch_dir) / 'replay.sqlite'}") if replay else None
        try:
            _walk(report, blocks_dir, genesis, channel, scratch)
            if scratch is not None and state_url is not None and not report.problems:
                _compare_state(report, StateDB(state_url), scratch)
        finally:
            if scratch is not None:
                scratch.close()
    return report


def _walk(report: ChainReport, blocks_dir: Path, genesis: Block, channel: Channel, scratch: StateDB | None) -> None:
    validator = Validator(channel)
    previous_hash, previous_commit = None, ZERO_HASH
    try:
        store = BlockStore(blocks_dir, read_only=True)
    except BlockStoreCorruption as exc:
        report.problems.append(f"block file corrupt: {exc}")
        return
    try:
        for number, data in _blocks(store, report):
            block = _decode(report, number, data)
            if block is None or not _check_links(report, number, block, previous_hash, genesis, channel):
                return
            if scratch is not None and not _replay(report, number, block, validator, scratch, previous_commit):
                return
            previous_hash, previous_commit = block_hash(block.header), block.metadata.commit_hash
            report.height = number + 1
            report.commit_hash = previous_commit.hex()
        if store.torn_tail:
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
    elif number == 0 and block_hash(header) != block_hash(genesis.header):
        problem = "is not the channel's genesis block"
    else:
        problem = seal_problem(block, previous_hash if number > 0 else None, channel)
    if problem:
        report.problems.append(f"block {number}: {problem}")
    return not problem


def _replay(report: ChainReport, number: int, block: Block, validator: Validator, scratch: StateDB, previous_commit: bytes) -> bool:
    result = validator.validate(block, scratch)
    stored = block.metadata.validation_flags
    for tx_num, code in enumerate(result.codes):
        stored_code = stored[tx_num] if tx_num < len(stored) else None
        if stored_code != code:
            stored_name = ValidationCode(stored_code).name if stored_code is not None and stored_code in ValidationCode._value2member_map_ else stored_code
            report.problems.append(f"block {number} tx {tx_num} ({result.tx_ids[tx_num][:16]}): stored flag {stored_name}, replay gives {code.name}")
            return False
    writes = result.writes()
    expected = commit_hash(previous_commit, number, [(tx_num, w) for tx_num, _, _, w in writes])
    if expected != block.metadata.commit_hash:
        report.problems.append(f"block {number}: commit hash does not match its valid writes")
        return False
    txs = [(t, i, int(c)) for i, (t, c) in enumerate(zip(result.tx_ids, result.codes)) if t]
    scratch.apply_block(number, expected, writes, txs)
    return True


def _compare_state(report: ChainReport, state: StateDB, rebuilt: StateDB) -> None:
    """Walk both states in key order; name the first key that differs."""
    try:
        savepoint = state.savepoint()
        if savepoint is None or savepoint[0] + 1 != report.height:
            applied = -1 if savepoint is None else savepoint[0]
            report.problems.append(f"state database applied up to block {applied} but the chain has {report.height} blocks (restart the peer to roll forward)")
            return
        if savepoint[1].hex() != report.commit_hash:
            report.problems.append("state database savepoint commit hash differs from the last block's")
            return
        actual, expected = state.iter_state(), rebuilt.iter_state()
        with contextlib.closing(actual), contextlib.closing(expected):  # end both reads before the close below
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
    finally:
        state.close()
