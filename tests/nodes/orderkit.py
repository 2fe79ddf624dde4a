"""Helpers of the orderer-node tests: signed envelopes, a broadcasting client with the
console's NATS credentials, the blocks stream read back, orderers' heartbeats, and the
client with its heartbeats once all three orderers are up (`orderers_up`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nats
from nodekit import NodeProcesses, node_homes

from ledger.core.blocks import seal_problem
from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.codes import OrdererCode
from ledger.core.encoding import decode, encode
from ledger.core.identity import SigningIdentity, now_ms
from ledger.core.messages import (
    Block,
    EndorsedTransaction,
    Envelope,
    Invocation,
    Payload,
    PayloadType,
    Proposal,
    ReadWriteSet,
    ResponsePayload,
    block_hash,
    compute_tx_id,
)
from ledger.core.transactions import parse_endorser_transaction
from ledger.node.layout import NetworkLayout
from ledger.node.material import read_genesis
from ledger.node.natsconf import node_connect_options
from ledger.node.nodeconf import load_node_config
from ledger.transport.nats_link import is_transient, parse_broadcast_reply
from ledger.transport.subjects import ChannelSubjects

CHANNEL = "gridchannel"
ORDERERS = ["orderer0.OrdererOrg", "orderer1.OrdererOrg", "orderer2.OrdererOrg"]
SUBJECTS = ChannelSubjects(CHANNEL)
REQUEST_TIMEOUT_S = 5.0
BROADCAST_DEADLINE_S = 60.0
RETRY_PAUSE_S = 0.2


def envelope(creator: SigningIdentity, n: int, *, pad: int = 0, channel: str = CHANNEL) -> tuple[str, bytes]:
    """A decodable endorser transaction (tx id, envelope) signed by `creator`."""
    invocation = Invocation(channel, "powerdata", "noop", (str(n), "x" * pad), os.urandom(16))
    tx_id = compute_tx_id(invocation)
    proposal = Proposal(invocation, tx_id, now_ms(), creator.cert_bytes, ())
    response = ResponsePayload(tx_id, b"", 200, "", "", b"", ReadWriteSet((), (), ()), ())
    transaction = EndorsedTransaction(encode(proposal), encode(response), ())
    payload = encode(Payload(PayloadType.ENDORSER_TRANSACTION, channel, creator.cert_bytes, encode(transaction)))
    return tx_id, encode(Envelope(payload, creator.sign(payload)))


def tx_ids_of(block: Block) -> list[str]:
    out = []
    for data in block.data:
        parsed = parse_endorser_transaction(data)
        assert parsed is not None, "a block holds an undecodable envelope"
        out.append(parsed.tx_id)
    return out


@dataclass
class Net:
    """A networked layout with its NATS servers and orderer nodes run as processes."""

    data: Path
    nodes: NodeProcesses
    layout: NetworkLayout = field(init=False)

    def __post_init__(self) -> None:
        self.layout = NetworkLayout(self.data)

    @property
    def orderer_homes(self) -> list[Path]:
        return node_homes(self.data, "orderer")

    def start(self) -> None:
        self.nodes.start_nats(self.data)
        for home in self.orderer_homes:
            self.nodes.start(home)

    def admin(self, org: str = "Org1") -> SigningIdentity:
        return SigningIdentity.load(self.layout.admin_file(org, "admin"))

    def orderer_identity(self, name: str) -> SigningIdentity:
        return SigningIdentity.load(self.layout.node_identity_file(name))

    @property
    def channel(self) -> Channel:
        return Channel(genesis_config(read_genesis(self.layout.genesis_file)))

    def client_options(self, node: str = "console.Org1") -> dict[str, Any]:
        home = self.layout.node_dir(node)
        return node_connect_options(home, load_node_config(home), max_reconnect_attempts=-1)

    def log_of(self, home: Path) -> str:
        return (home / "test-run.log").read_text(errors="replace")

    def check_orderers_running(self) -> None:
        """Every orderer process still runs (the end of a stopped one's log tells why not)."""
        for home in self.orderer_homes:
            assert self.nodes.procs[home].poll() is None, f"{home.name} stopped: {self.log_of(home)[-2000:]}"


class Client:
    """A gateway's view of the ordering service: broadcast with retries, blocks read back."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.retries = 0

    @classmethod
    async def connect(cls, options: dict[str, Any]) -> Client:
        async def quiet(e: Exception) -> None:
            pass

        return cls(await nats.connect(**options, error_cb=quiet))

    async def close(self) -> None:
        await self.nc.close()

    async def broadcast_once(self, data: bytes) -> tuple[bool, str]:
        reply = await self.nc.request(SUBJECTS.broadcast, data, timeout=REQUEST_TIMEOUT_S)
        result = parse_broadcast_reply(reply.data)
        return result.accepted, result.code

    async def broadcast(self, data: bytes) -> tuple[bool, str]:
        """Broadcast until accepted or refused: timeouts, no responders and
        SERVICE_UNAVAILABLE are retried with the same envelope (as a gateway does)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BROADCAST_DEADLINE_S
        while True:
            try:
                accepted, code = await self.broadcast_once(data)
                if accepted or code != OrdererCode.SERVICE_UNAVAILABLE:
                    return accepted, code
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionReconnectingError):
                pass
            if loop.time() > deadline:
                raise AssertionError("the ordering service did not answer a broadcast in time")
            self.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)

    async def api(self, call: Any, timeout_s: float = BROADCAST_DEADLINE_S) -> Any:
        """A JetStream API call, again after transient errors (a server died, a leader is
        being elected, a loaded machine answered late)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                return await call()
            except Exception as exc:
                if not is_transient(exc) or loop.time() > deadline:
                    raise
            self.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)

    async def blocks(self, start: int = 0) -> list[Block]:
        """Every block of the blocks stream from number `start` (block N at sequence N + 1)."""
        info = await self.api(lambda: self.js.stream_info(SUBJECTS.blocks_stream))
        out = []
        for seq in range(start + 1, info.state.last_seq + 1):
            raw = await self.api(lambda seq=seq: self.js.get_msg(SUBJECTS.blocks_stream, seq))
            block = decode(raw.data, Block)
            assert block.header.number == seq - 1, f"block {block.header.number} stored at sequence {seq}"
            out.append(block)
        return out

    async def wait_tx_ids(self, tx_ids: set[str], timeout_s: float = 60.0) -> list[Block]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            blocks = await self.blocks()
            seen = {t for b in blocks[1:] for t in tx_ids_of(b)}
            if tx_ids <= seen:
                return blocks
            if loop.time() > deadline:
                raise AssertionError(f"{len(tx_ids - seen)} accepted transactions never reached the blocks stream")
            await asyncio.sleep(0.1)


class Heartbeats:
    """The latest heartbeat of every node."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}

    async def listen(self, nc: Any) -> None:
        async def on_beat(msg: Any) -> None:
            beat = msgspec.msgpack.decode(msg.data)
            self.latest[beat["name"]] = beat

        await nc.subscribe(SUBJECTS.heartbeat_all, cb=on_beat)

    async def wait(self, names: list[str], condition: Any, timeout_s: float = 60.0, what: str = "heartbeats") -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(n in self.latest and condition(self.latest[n]) for n in names):
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.latest}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def orderers_up(net: Net) -> AsyncIterator[tuple[Client, Heartbeats]]:
    """A console's client and the heartbeats it hears, once every orderer has the genesis
    block (each test starts its scenario there); the client is closed on the way out."""
    client = await Client.connect(net.client_options())
    beats = Heartbeats()
    await beats.listen(client.nc)
    try:
        await beats.wait(ORDERERS, lambda b: b["height"] >= 1, what="three orderers up")
        yield client, beats
    finally:
        await client.close()


def check_chain(blocks: list[Block], channel: Channel) -> None:
    """Numbers contiguous from 0, hash-linked, each sealed by an orderer of the channel."""
    assert blocks, "the blocks stream is empty"
    previous = block_hash(blocks[0].header)
    for number, block in enumerate(blocks[1:], start=1):
        assert block.header.number == number
        problem = seal_problem(block, previous, channel)
        assert problem == "", f"block {number}: {problem}"
        assert block.header.timestamp_ms >= blocks[number - 1].header.timestamp_ms or number == 1
        previous = block_hash(block.header)


def signer_names(blocks: list[Block], channel: Channel) -> dict[str, int]:
    """How many blocks each orderer appended (by the certificate that signed them)."""
    counts: dict[str, int] = {}
    for block in blocks[1:]:
        identity = channel.validate_orderer(block.orderer_signature.signer)
        name = f"{identity.name}.{identity.org}"
        counts[name] = counts.get(name, 0) + 1
    return counts
