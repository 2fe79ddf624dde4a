"""Peers accept a block sealed by ANY orderer node of the channel (the networked ordering
service has three, and whichever appends block N first signs it), and only by those."""

from __future__ import annotations

from pathlib import Path

from nodekit import NodeProcesses, init_networked
from orderkit import Net, envelope

from ledger.core.blocks import seal_block, seal_problem
from ledger.core.identity import CertificateAuthority
from ledger.core.messages import block_hash
from ledger.node.material import load_ca, load_genesis


def test_a_block_signed_by_any_orderer_of_the_channel_is_accepted_and_no_other(tmp_path: Path) -> None:
    net = Net(init_networked(tmp_path), NodeProcesses())  # no node runs: only the layout
    channel = net.channel
    genesis_hash = block_hash(load_genesis(net.layout).header)
    _, tx = envelope(net.admin(), 1)
    orderers = [f"orderer{i}.OrdererOrg" for i in range(3)]
    for name in orderers:
        block = seal_block(1, genesis_hash, [tx], net.orderer_identity(name), 1)
        assert seal_problem(block, genesis_hash, channel) == "", name
    # not an orderer: a peer's own key, an orderer-role cert for a node the channel does
    # not list (issued by the orderer org's own CA), and an orderer of a foreign CA
    outsiders = {
        "a peer": net.orderer_identity("peer0.Org1"),
        "an unlisted orderer": load_ca(net.layout, "OrdererOrg").issue("orderer9", "orderer"),
        "a foreign CA's orderer": CertificateAuthority.generate("OrdererOrg").issue("orderer0", "orderer"),
    }
    refused = {}
    for what, identity in outsiders.items():
        block = seal_block(1, genesis_hash, [tx], identity, 1)
        refused[what] = seal_problem(block, genesis_hash, channel)
        assert refused[what].startswith("orderer certificate refused"), (what, refused[what])
    assert len(refused) == 3
