"""The networked channel's parts: its nodes run on their own, reached over NATS.

The CLI (`invoke`, `query`, `status`, `verify`) and the console hold a networked channel
the way they hold the embedded one: a `Network` (`ledger.node.network`) with peers and an
ordering service, here `RemotePeer`s and a `RemoteOrderer` on one NATS connection
(`ledger.transport.nats_remote`), which this module connects. Nothing is started or locked:
the nodes are other processes, possibly on other machines. It does not know `Network`
(which builds itself from these parts), so the two modules form no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.errors import ConfigError
from ledger.core.messages import Block
from ledger.node.layout import NetworkLayout
from ledger.node.netstatus import client_options, client_org
from ledger.node.orgs import NATS_CLIENT_SEED_FILE
from ledger.node.spec import load_spec
from ledger.transport.nats_client import NatsClient
from ledger.transport.nats_remote import ChannelLink, RemoteOrderer, RemotePeer
from ledger.transport.protocols import PeerService
from ledger.transport.subjects import ChannelSubjects


@dataclass(frozen=True)
class RemoteParts:
    """A networked channel as a `Network` holds it: the ordering service, the peers, and
    what closes their NATS connection."""

    orderer: RemoteOrderer
    peers: list[PeerService]
    close: Callable[[], None]


def is_networked(layout: NetworkLayout) -> bool:
    """A data directory of a networked channel (its nodes run on NATS): laid out by `init
    --networked`, or a member's own DATA (`org create` makes every organization a NATS client
    key, which an embedded network's organizations never have), with or without nodes."""
    return any(layout.orgs_dir.glob("*/nodes/*/node.json")) or any(layout.orgs_dir.glob(f"*/{NATS_CLIENT_SEED_FILE}"))


def cli_options(layout: NetworkLayout) -> dict[str, Any]:
    """The CLI client credentials of this DATA (what `invoke` and `query` use): the console
    organization's, or in a member's own DATA that member's (`client_org`)."""
    spec = load_spec(layout.network_file)
    org = client_org(layout, spec.console.org)
    options = client_options(layout, org) if org else {}
    if not options:
        raise ConfigError(f"{layout.root} names no NATS servers: neither a node directory nor its network file places any", code="NO_NODES")
    return options


def connect_networked(genesis: Block, options: dict[str, Any]) -> RemoteParts:
    """Connect to the channel of `genesis` over NATS (with `options`) and ask every peer's
    status once, so a new client starts with their heights instead of waiting a heartbeat."""
    config = genesis_config(genesis)
    channel = Channel(config)
    subjects = ChannelSubjects(config.channel)
    client = NatsClient(options)
    try:
        remote = [RemotePeer(client, subjects, node.node_id, channel.msp.deserialize(node.cert)) for node in config.peers]
        orderer = RemoteOrderer(client, subjects, [node.node_id for node in config.orderers])
        link = ChannelLink(client, subjects, remote, orderer)
        link.refresh()
    except BaseException:
        client.close()
        raise
    return RemoteParts(orderer, list(remote), link.close)
