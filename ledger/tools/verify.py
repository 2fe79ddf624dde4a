"""`gridledger verify`: re-check every node's ledger and compare them; name the first fault.

Checks the genesis.block file against the orderer's block 0; runs the chain check
(`ledger.commit.chain_check`: block files, block index, and for peers replay, state,
history, tx index and savepoint) on the orderer and on every peer; then requires every
peer's chain to be the orderer's (the same header hash at every height a peer has) and
the peers to agree on height and commit hash. On a running network (the console) each
live peer checks its own files on a consistent snapshot; the orderer's files are read as
they grow, so a record being appended is not a fault and peers behind the orderer are not
in disagreement. `checked_blocks` counts the chain's blocks once (not blocks x nodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec

from ledger.commit.chain_check import PROBLEMS_MAX, ChainReport, verify_chain
from ledger.core.channel_config import genesis_config
from ledger.core.codes import VerifyCode
from ledger.core.encoding import decode
from ledger.core.errors import ConfigError
from ledger.core.messages import Block
from ledger.node.layout import NetworkLayout
from ledger.node.material import load_genesis
from ledger.node.spec import load_spec
from ledger.storage.blockstore import BlockStore, BlockStoreCorruption


class LivePeer(Protocol):
    @property
    def name(self) -> str: ...

    def verify_chain(self) -> ChainReport: ...


@dataclass
class VerifyReport:
    ok: bool
    problems: list[str]
    checked_blocks: int  # the chain's length as checked: each block is checked on every node, counted once
    chains: list[ChainReport]
    faults: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)  # what an operator runs for the faults found (embedded)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "first_fault": self.faults[0] if self.faults else None,
            "problems": self.problems,
            "checked_blocks": self.checked_blocks,
            # a peer that did not answer and runs elsewhere is listed, but was not checked
            "nodes_checked": sum(1 for c in self.chains if not any(f["code"] == VerifyCode.NODE_UNREACHABLE for f in c.faults)),
            "repair": self.repairs,
            "nodes": [{"node": c.node, "height": c.height, "commit_hash": c.commit_hash, "problems": c.problems} for c in self.chains],
        }


def verify_network(data_dir: Path, *, live_peers: Sequence[LivePeer] = ()) -> VerifyReport:
    """Verify the network in `data_dir`; ConfigError (NO_NETWORK) only when there is none."""
    layout = NetworkLayout(Path(data_dir))
    spec = load_spec(layout.network_file)
    live = {p.name: p for p in live_peers}
    genesis_check, network = ChainReport("genesis.block"), ChainReport("network")
    genesis = _reference_genesis(layout, genesis_check)
    if genesis is None:
        return _report(genesis_check, [], network)
    config = genesis_config(genesis)
    orderer = config.orderers[0]
    orderer_hashes: list[bytes] = []
    chains = [verify_chain(orderer.node_id, layout.blocks_dir(orderer.node_id), genesis, None, replay=False, hashes=orderer_hashes, live=bool(live))]
    peer_hashes: dict[str, list[bytes]] = {}
    for node in config.peers:
        name = node.node_id
        if name in live:
            chains.append(live[name].verify_chain())
        else:
            peer_hashes[name] = []
            chains.append(verify_chain(name, layout.blocks_dir(name), genesis, layout.state_url(spec.storage.state, name), hashes=peer_hashes[name]))
    _compare_with_orderer(network, chains, orderer_hashes, peer_hashes)
    peers = [c for c in chains[1:] if not c.problems]
    if len({(c.height, c.commit_hash) for c in peers}) > 1 and not live:
        heights = ", ".join(f"{c.node} at {c.height} ({c.commit_hash[:12]})" for c in peers)
        network.fault(VerifyCode.PEERS_DISAGREE, f"peers disagree on height or commit hash: {heights}")
    report = _report(genesis_check, chains, network)
    report.repairs = _repairs(layout, chains, {node.node_id for node in config.peers})
    return report


def _repairs(layout: NetworkLayout, chains: list[ChainReport], peers: set[str]) -> list[str]:
    """The step that mends each damaged node: a peer's `gridledger repair` command (blocks
    from verified copies, state rebuilt); the orderer repairs itself from the peers' copies
    when the network next starts."""
    steps = []
    for chain in chains:
        if not chain.faults:
            continue
        if chain.node in peers:
            steps.append(f"gridledger repair --data {layout.root} --peer {chain.node}")
        else:
            steps.append(f"{chain.node}: start the network (`gridledger up --data {layout.root}`); the orderer repairs its blocks from the peers' verified copies")
    return steps


def _report(genesis_check: ChainReport, chains: list[ChainReport], network: ChainReport) -> VerifyReport:
    """Faults in the order they matter: the genesis file, each node's own, then across nodes."""
    reports = [genesis_check, *chains, network]
    faults = [f for r in reports for f in r.faults]
    problems = [f"{r.node}: {p}" for r in reports for p in r.problems]
    return VerifyReport(not faults, problems[:PROBLEMS_MAX], max((c.height for c in chains), default=0), chains, faults[:PROBLEMS_MAX])


def _reference_genesis(layout: NetworkLayout, check: ChainReport) -> Block | None:
    """The genesis block to check every node against: genesis.block when it decodes and is
    byte for byte the orderer's block 0. When it differs, a GENESIS_DAMAGED fault, and the
    orderer's block 0 serves so that the nodes are still checked (their own checks name a
    damaged block 0). None when genesis.block cannot be read at all."""
    try:
        genesis = load_genesis(layout)
        genesis_config(genesis)  # it must hold a channel configuration
    except ConfigError as exc:
        if exc.code == "NO_NETWORK":
            raise
        check.fault(VerifyCode.GENESIS_DAMAGED, exc.message)
        return None
    stored = _orderer_block_zero(layout, genesis)
    if stored is not None and stored != layout.genesis_file.read_bytes():
        check.fault(VerifyCode.GENESIS_DAMAGED, "genesis.block differs from the orderer's block 0")
        try:
            return decode(stored, Block)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return genesis
    return genesis


def _orderer_block_zero(layout: NetworkLayout, genesis: Block) -> bytes | None:
    """The orderer's stored block 0, or None when it cannot be read (its chain check says why)."""
    try:
        with BlockStore(layout.blocks_dir(genesis_config(genesis).orderers[0].node_id), read_only=True, height_max=1) as store:
            return store.get(0) if store.height else None
    except (BlockStoreCorruption, OSError):
        return None


def _compare_with_orderer(network: ChainReport, chains: list[ChainReport], orderer_hashes: list[bytes], peer_hashes: dict[str, list[bytes]]) -> None:
    """Every peer's chain must be the orderer's: the same header hash at every height it has."""
    orderer = chains[0]
    if orderer.problems:
        return
    for chain in chains[1:]:
        if chain.problems or not chain.height:
            continue
        if chain.height > len(orderer_hashes):
            network.fault(VerifyCode.CHAIN_DIVERGES, f"{chain.node} has {chain.height} blocks, the orderer {len(orderer_hashes)}", block=len(orderer_hashes))
            continue
        hashes = peer_hashes.get(chain.node)
        if hashes is not None:
            first = next((n for n, (mine, theirs) in enumerate(zip(hashes, orderer_hashes)) if mine != theirs), None)
            if first is not None:
                network.fault(VerifyCode.CHAIN_DIVERGES, f"{chain.node}'s block {first} differs from the orderer's (header hash)", block=first)
        elif chain.last_block_hash != orderer_hashes[chain.height - 1].hex():  # hash links: equal here means equal below
            network.fault(VerifyCode.CHAIN_DIVERGES, f"{chain.node}'s chain differs from the orderer's at or below block {chain.height - 1}", block=chain.height - 1)
