"""`gridledger node run` for a peer: the peer of one node directory, served on NATS.

Everything comes from the directory: `node.json` (channel, NATS URLs, state database),
the node's own identity, its NATS nkey seed (and TLS certificate), the genesis block. The
block files and the SQLite state live in the directory too. SIGTERM and SIGINT stop the
node after the block it is committing; a failed commit path exits non-zero (fail-stop).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.errors import ConfigError
from ledger.core.identity import SigningIdentity
from ledger.node.health import maybe_serve, with_status
from ledger.node.layout import NodeLayout
from ledger.node.logs import configure_logging
from ledger.node.material import read_genesis
from ledger.node.natsconf import node_connect_options
from ledger.node.nodeconf import NodeConfig
from ledger.peer.nats_peer import NatsPeerNode
from ledger.peer.peer import Peer


def load_home_identity(home: Path, config: NodeConfig) -> SigningIdentity:
    path = home / config.identity_file
    if not path.exists():
        raise ConfigError(f"{config.name} has no identity at {path}")
    return SigningIdentity.load(path)


def state_url(home: Path, config: NodeConfig) -> str:
    """The peer's state database: node.json's URL, or SQLite in the node directory."""
    return config.state_url or f"sqlite:///{NodeLayout(home).state_sqlite}"


def build_peer_node(home: Path, config: NodeConfig) -> NatsPeerNode:
    genesis = read_genesis(home / config.genesis_file)
    channel = Channel(genesis_config(genesis))
    if channel.name != config.channel:
        raise ConfigError(f"{config.name}: node.json names channel {config.channel!r} but the genesis block is for {channel.name!r}")
    peer = Peer(config.name, load_home_identity(home, config), channel, home, state_url(home, config))
    return NatsPeerNode(peer, genesis, node_connect_options(home, config))


def run_peer(home: Path, config: NodeConfig) -> int:
    """Run the peer until SIGTERM/SIGINT (exit 0) or until its commit path fails."""
    configure_logging()
    node = build_peer_node(home, config)
    server = maybe_serve(config.health_host, config.health_port, lambda: with_status(node.health()))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, node.stop.set)
        await node.run()

    try:
        asyncio.run(main())
    finally:
        if server is not None:
            server.stop()
    return 0
