"""`gridledger repair --peer NAME`: repair one peer of a stopped embedded network.

The network must be stopped (its lock is held meanwhile, as `verify` does; orphans of a
killed run are ended first, as `Network.open` does). The copies the peer's damaged blocks
are restored from are the orderer's block files and every other peer's, read in place and
checked block by block (`ledger.peer.repair`). Afterwards the whole network is verified, so
the operator sees at once whether the ledger is sound again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.errors import LedgerError
from ledger.node.layout import NetworkLayout
from ledger.node.material import load_genesis
from ledger.node.network import idle_lock, stored_blocks
from ledger.node.orphans import end_orphans
from ledger.node.spec import load_spec
from ledger.peer.repair import repair_peer
from ledger.tools.verify import verify_network


def repair_network_peer(data_dir: Path, peer: str) -> dict[str, Any]:
    """Repair `peer` of the embedded network in `data_dir`; the repair's report plus the
    network's verify afterwards. LedgerError: NETWORK_BUSY, BAD_ARGUMENT (no such peer),
    REPAIR_FAILED."""
    layout = NetworkLayout(Path(data_dir))
    genesis = load_genesis(layout)
    config = genesis_config(genesis)
    peers = [node.node_id for node in config.peers]
    if peer not in peers:
        raise LedgerError("BAD_ARGUMENT", f"no peer {peer!r} in this network (it has {', '.join(peers)})")
    spec = load_spec(layout.network_file)
    with idle_lock(layout.root):
        end_orphans(layout)  # a killed run's peer processes would still hold the block files
        sources = [config.orderers[0].node_id, *(name for name in peers if name != peer)]
        copies = [stored_blocks(layout.blocks_dir(name)) for name in sources]
        report = repair_peer(peer, layout.node_dir(peer), layout.state_url(spec.storage.state, peer), genesis, Channel(config), copies)
        verified = verify_network(layout.root)
    return {**report.as_dict(), "sources": sources, "verify": verified.as_dict()}
