"""`gridledger verify`: re-check every node's ledger and compare them; name the first fault.

Runs the chain check (`ledger.commit.chain_check`) on the orderer's block files and on
every peer's block files and state, then requires every peer to agree on height and
commit hash. On a running network each live peer checks its own files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ledger.commit.chain_check import PROBLEMS_MAX, ChainReport, verify_chain
from ledger.core.channel_config import genesis_config
from ledger.node.init import load_genesis
from ledger.node.layout import NetworkLayout
from ledger.node.spec import load_spec


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "checked_blocks": self.checked_blocks,
            "nodes_checked": len(self.chains),
            "nodes": [{"node": c.node, "height": c.height, "commit_hash": c.commit_hash, "problems": c.problems} for c in self.chains],
        }


def verify_network(data_dir: Path, *, live_peers: Sequence[LivePeer] = ()) -> VerifyReport:
    layout = NetworkLayout(Path(data_dir))
    genesis = load_genesis(layout)
    config = genesis_config(genesis)
    spec = load_spec(layout.network_file)
    chains: list[ChainReport] = []
    orderer = config.orderers[0]
    chains.append(verify_chain(orderer.node_id, layout.blocks_dir(orderer.node_id), genesis, None, replay=False))
    live = {p.name: p for p in live_peers}
    for node in config.peers:
        name = node.node_id
        if name in live:
            chains.append(live[name].verify_chain())
        else:
            chains.append(verify_chain(name, layout.blocks_dir(name), genesis, layout.state_url(spec.storage.state, name)))
    problems = [f"{c.node}: {p}" for c in chains for p in c.problems]
    peers = [c for c in chains[1:] if not c.problems]
    if len({(c.height, c.commit_hash) for c in peers}) > 1 and not live:
        heights = ", ".join(f"{c.node} at {c.height} ({c.commit_hash[:12]})" for c in peers)
        problems.append(f"peers disagree on height or commit hash: {heights}")
    return VerifyReport(not problems, problems[:PROBLEMS_MAX], max((c.height for c in chains), default=0), chains)
