"""The networked channel as one `Network`: its nodes run on their own, reached over NATS.

The CLI (`invoke`, `query`, `status`, `verify`) and the console hold a networked channel
the way they hold the embedded one: a `Network` with peers and an ordering service, here
`RemotePeer`s and a `RemoteOrderer` on one NATS connection (`ledger.transport.nats_remote`).
Nothing is started or locked: the nodes are other processes, possibly on other machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.errors import ConfigError
from ledger.core.messages import Block
from ledger.node.layout import NetworkLayout
from ledger.node.spec import load_spec
from ledger.transport.nats_client import NatsClient
from ledger.transport.nats_remote import ChannelLink, RemoteOrderer, RemotePeer
from ledger.transport.protocols import PeerService
from ledger.transport.subjects import ChannelSubjects

if TYPE_CHECKING:
    from ledger.node.network import Network


def is_networked(layout: NetworkLayout) -> bool:
    """A data directory laid out by `init --networked` (its nodes run on NATS)."""
    return any(layout.orgs_dir.glob("*/nodes/*/node.json"))


def cli_options(layout: NetworkLayout) -> dict[str, Any]:
    """The console organization's CLI client credentials (what `invoke` and `query` use)."""
    from ledger.node.netstatus import client_options

    spec = load_spec(layout.network_file)
    options = client_options(layout, spec.console.org)
    if not options:
        raise ConfigError(f"{layout.root} names no NATS servers in its node directories")
    return options


def open_networked(layout: NetworkLayout, genesis: Block, options: dict[str, Any] | None = None) -> "Network":
    from ledger.node.network import Network

    spec = load_spec(layout.network_file)
    config = genesis_config(genesis)
    channel = Channel(config)
    subjects = ChannelSubjects(config.channel)
    client = NatsClient(options if options is not None else cli_options(layout))
    try:
        remote = [RemotePeer(client, subjects, node.node_id, channel.msp.deserialize(node.cert)) for node in config.peers]
        orderer = RemoteOrderer(client, subjects, [node.node_id for node in config.orderers])
        link = ChannelLink(client, subjects, remote, orderer)
        link.refresh()
    except BaseException:
        client.close()
        raise
    peers: list[PeerService] = list(remote)
    return Network(layout, spec, genesis, orderer, peers, peer_processes=False, on_close=link.close)
