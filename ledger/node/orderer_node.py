"""`gridledger node run` for an orderer node: the JetStream orderer from its directory.

The directory holds the node's own identity, the genesis block and its NATS credentials;
the node keeps no other state (the streams are its memory). SIGTERM or SIGINT stop it
cleanly (exit 0); a fault (diverged block, broken stream) stops it with exit 1 and a
logged reason, for the supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import structlog

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.errors import ConfigError, NodeFailed
from ledger.core.identity import SigningIdentity
from ledger.node.health import maybe_serve, with_status
from ledger.node.logs import configure_logging
from ledger.node.material import read_genesis
from ledger.node.natsconf import node_connect_options
from ledger.node.nodeconf import NodeConfig
from ledger.order.jetstream_orderer import JetStreamOrderer
from ledger.transport.nats_link import stream_replicas

log = structlog.get_logger("orderer")

EXIT_FAULT = 1
STREAM_INFO_TIMEOUT_S = 2.0  # a health probe's look at the streams (no quorum: it says so)


def build_orderer(home: Path, config: NodeConfig) -> JetStreamOrderer:
    """The orderer of the node directory `home` (not yet connected)."""
    identity_path = home / config.identity_file
    if not identity_path.exists():
        raise ConfigError(f"{config.name}: its identity {identity_path} is missing")
    identity = SigningIdentity.load(identity_path)
    genesis = read_genesis(home / config.genesis_file)
    channel = Channel(genesis_config(genesis))
    if not channel.is_orderer(identity.identity):
        raise ConfigError(f"{config.name}: {identity.id} is not an orderer of channel {channel.name}")
    assert config.nats is not None
    options = node_connect_options(home, config)
    return JetStreamOrderer(config.name, identity, channel, genesis, options, stream_replicas(config.nats.urls))


class OrdererHealth:
    """The orderer's health report: its own facts and both streams' replication state."""

    def __init__(self, orderer: JetStreamOrderer) -> None:
        self.orderer = orderer
        self.loop: asyncio.AbstractEventLoop | None = None  # the node's loop, once running

    def __call__(self) -> dict[str, Any]:
        facts = self.orderer.health()
        loop = self.loop
        if loop is not None and not loop.is_closed() and not facts["problems"]:
            ask = asyncio.run_coroutine_threadsafe(self.orderer.streams_health(STREAM_INFO_TIMEOUT_S), loop)
            try:
                streams = ask.result(STREAM_INFO_TIMEOUT_S * 2 + 1)
            except Exception as exc:  # the loop is stopping, or too busy to answer in time
                streams = {"error": repr(exc)}
            facts["streams"] = streams
            failing = [name for name, info in streams.items() if not isinstance(info, dict) or "error" in info]
            if failing:
                facts["problems"] = [*facts["problems"], f"stream state unavailable: {', '.join(failing)}"]
        return with_status(facts)


async def _serve(orderer: JetStreamOrderer, health: OrdererHealth) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    health.loop = loop
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await orderer.run(stop)


def run_orderer(home: Path, config: NodeConfig) -> int:
    """Run until stopped; the process exit code (0 clean stop, EXIT_FAULT on a fault)."""
    configure_logging()
    orderer = build_orderer(home, config)
    health = OrdererHealth(orderer)
    server = maybe_serve(config.health_host, config.health_port, health)
    try:
        asyncio.run(_serve(orderer, health))
    except NodeFailed as exc:
        log.error("orderer_stopped", node=config.name, why=exc.message)
        return EXIT_FAULT
    finally:
        if server is not None:
            server.stop()
    log.info("orderer_stopped", node=config.name, height=orderer.height)
    return 0
