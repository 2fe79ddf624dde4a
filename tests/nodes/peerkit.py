"""Helpers of the peer-node tests: connect as a node, publish blocks as an orderer would,
and a stand-in ordering service made of the ledger's own block code (until the orderer node
runs): it answers `broadcast` with orderer0's credentials and seals blocks with its key."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import nats
from nats.js.api import StorageType, StreamConfig

from ledger.core.blocks import seal_block
from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.encoding import decode, encode
from ledger.core.identity import SigningIdentity, now_ms
from ledger.core.messages import Block, block_hash
from ledger.node.natsconf import connect_options
from ledger.node.nodeconf import load_node_config
from ledger.order.solo import check_envelope
from ledger.transport.nats_batch import serve_batch
from ledger.transport.subjects import ORDERER_QUEUE_GROUP, ChannelSubjects

S = ChannelSubjects("gridchannel")
STREAM_READY_S = 30.0
CUT_EVERY_S = 0.02
START_S = 30.0


def options(home: Path) -> dict[str, Any]:
    n = load_node_config(home).nats
    assert n is not None

    async def quiet(e: Exception) -> None:
        pass

    return {**connect_options(home, n.urls, n.nkey_seed_file, n.tls_ca_file, n.tls_cert_file, n.tls_key_file), "error_cb": quiet}


async def publish_block(js: Any, data: bytes) -> int:
    """Append one block (Msg-Id = its number), retrying while a fresh R3 stream elects a leader."""
    number = decode(data, Block).header.number
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_READY_S
    while True:
        try:
            ack = await js.publish(S.blocks, data, headers={"Nats-Msg-Id": str(number)}, timeout=2.0)
            assert ack.seq == number + 1, f"block {number} stored at sequence {ack.seq}"
            return number
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def create_blocks_stream(js: Any) -> None:
    await js.add_stream(StreamConfig(name=S.blocks_stream, subjects=[S.blocks], num_replicas=3, storage=StorageType.FILE))


async def publish_blocks(orderer: Path, blocks: list[bytes], *, create: bool) -> None:
    nc = await nats.connect(**options(orderer))
    try:
        js = nc.jetstream()
        if create:
            await create_blocks_stream(js)
        for data in blocks:
            await publish_block(js, data)
    finally:
        await nc.close()


class StandInOrderer:
    """Answers broadcast (check, accept) and every CUT_EVERY_S seals what arrived as a block."""

    def __init__(self, orderer_home: Path) -> None:
        self.home = orderer_home
        self.identity = SigningIdentity.load(orderer_home / "identity.json")
        self.genesis = decode((orderer_home / "genesis.block").read_bytes(), Block)
        self.channel = Channel(genesis_config(self.genesis))
        self.accepted = 0
        self.blocks = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(START_S), "the stand-in orderer did not start"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _run(self) -> None:
        nc = await nats.connect(**options(self.home))
        js = nc.jetstream()
        pending: list[bytes] = []
        try:
            await create_blocks_stream(js)
            await publish_block(js, encode(self.genesis))
            previous, number = block_hash(self.genesis.header), 1

            async def admit(envelope: bytes) -> bytes:
                result = check_envelope(self.channel, envelope)
                if result.accepted:
                    pending.append(envelope)
                    self.accepted += 1
                return encode(result)

            async def on_broadcast(msg: Any) -> None:
                await msg.respond(await admit(msg.data))

            async def on_broadcast_batch(msg: Any) -> None:
                await msg.respond(await serve_batch(msg.data, admit, lambda: b""))

            await nc.subscribe(S.broadcast, queue=ORDERER_QUEUE_GROUP, cb=on_broadcast)
            await nc.subscribe(S.broadcast_batch, queue=ORDERER_QUEUE_GROUP, cb=on_broadcast_batch)
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(CUT_EVERY_S)
                if pending:
                    batch, pending[:] = list(pending), []
                    block = seal_block(number, previous, batch, self.identity, now_ms())
                    await publish_block(js, encode(block))
                    previous, number = block_hash(block.header), number + 1
                    self.blocks += 1
        finally:
            await nc.close()
