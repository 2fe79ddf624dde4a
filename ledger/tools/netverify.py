"""`gridledger verify` of a running networked channel: every node's chain, checked where it is.

The ordering service's chain is the blocks stream: it is read over NATS into a scratch
block store and given the chain check (links, Merkle roots, orderer signatures). Every live
peer checks its own block files and state (a `verify` query, so nothing reads another
node's files); a peer that does not answer is checked from its files when they are on this
machine, and is NODE_UNREACHABLE (not checked) when it runs elsewhere. Peers must then agree on height and commit hash once they have every block.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ledger.commit.chain_check import PROBLEMS_MAX, ChainReport, verify_chain
from ledger.core.codes import VerifyCode
from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from ledger.storage.blockstore import BlockStore
from ledger.tools.verify import VerifyReport
from ledger.transport.nats_remote import RemoteOrderer

SETTLE_S = 10.0  # how long peers get to commit the stream's last blocks before they are compared
SETTLE_POLL_S = 0.1
STREAM_NODE = "blocks-stream"


def stream_chain(net: Network) -> ChainReport:
    """The chain check of the blocks stream, copied into a scratch block store."""
    assert isinstance(net.orderer, RemoteOrderer), "a networked channel's ordering service"
    with tempfile.TemporaryDirectory(prefix="gridledger-stream-") as scratch:
        store = BlockStore(Path(scratch) / "blocks")
        try:
            for number, data in enumerate(net.orderer.blocks_from(0)):
                store.append(number, data)
        finally:
            store.close()
        return verify_chain(STREAM_NODE, Path(scratch) / "blocks", net.genesis, None, replay=False)


def unreachable(node: str) -> ChainReport:
    """The report of a peer that did not answer and runs elsewhere (a member's DATA holds only
    its own node directories). Why: it was checked from files that are never on this machine,
    so verify named BLOCKS_MISSING "no block files at DATA/orgs/Org2/nodes/peer1.Org2/blocks",
    a damage that does not exist, instead of the peer being down."""
    report = ChainReport(node)
    report.fault(VerifyCode.NODE_UNREACHABLE, "did not answer over NATS and runs on another machine (its directory is not here): not checked; start it, or run verify where it runs")
    return report


def verify_networked(data_dir: Path) -> VerifyReport:
    layout = NetworkLayout(Path(data_dir))
    with Network.open(layout.root, networked=True) as net:
        stream = stream_chain(net)
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and any(p.alive and p.height < stream.height for p in net.peers):
            time.sleep(SETTLE_POLL_S)
        chains = [stream]
        for peer, node in zip(net.peers, net.config.peers):
            if peer.alive:
                chains.append(peer.verify_chain())
            elif layout.node_dir(node.node_id).is_dir():
                url = layout.state_url(net.spec.storage.state, node.node_id)
                chains.append(verify_chain(node.node_id, layout.blocks_dir(node.node_id), net.genesis, url))
            else:
                chains.append(unreachable(node.node_id))
    problems = [f"{c.node}: {p}" for c in chains for p in c.problems]
    peers = [c for c in chains[1:] if not c.problems]
    if len({(c.height, c.commit_hash) for c in peers}) > 1:
        heights = ", ".join(f"{c.node} at {c.height} ({c.commit_hash[:12]})" for c in peers)
        problems.append(f"peers disagree on height or commit hash: {heights}")
    behind = [c.node for c in peers if c.height < stream.height]
    if behind and not stream.problems:
        problems.append(f"peers behind the blocks stream ({stream.height} blocks): {', '.join(behind)}")
    return VerifyReport(not problems, problems[:PROBLEMS_MAX], max((c.height for c in chains), default=0), chains, [f for c in chains for f in c.faults][:PROBLEMS_MAX])
