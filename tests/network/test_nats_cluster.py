"""The NATS cluster the ordering service runs on: fsync on every write, replicated streams."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import nats
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from natskit import Cluster

from ledger.transport.nats_link import STREAM_READY_S, is_transient

RETRY_PAUSE_S = 0.1


async def first_publish(js: JetStreamContext) -> PubAck:
    """The first publish to a new R3 stream, retried while the cluster still settles: on a
    loaded machine the stream's leader (or its interest on the server we are connected to)
    can lag `add_stream` by a moment, answered "no responders" (the ledger's own publishers
    retry the same way, with the same Msg-Id)."""
    deadline = asyncio.get_running_loop().time() + STREAM_READY_S
    while True:
        try:
            return await js.publish("t", b"x", headers={"Nats-Msg-Id": "a"})
        except Exception as exc:
            if not is_transient(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(RETRY_PAUSE_S)


def test_servers_sync_every_write_and_replicate_a_stream(cluster: Cluster) -> None:
    for server in cluster.servers:
        with urllib.request.urlopen(f"{server.address.monitor_url}/varz", timeout=5) as response:
            varz = json.loads(response.read())
        assert varz["jetstream"]["config"]["sync_always"] is True
        assert varz["version"] == "2.15.1"

    async def scenario() -> int:
        nc = await nats.connect(servers=cluster.urls)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="T", subjects=["t"], num_replicas=3, storage=StorageType.FILE))
        ack = await first_publish(js)
        again = await js.publish("t", b"x", headers={"Nats-Msg-Id": "a"})
        assert again.duplicate and again.seq == ack.seq
        info = await js.stream_info("T")
        await nc.close()
        return len(info.cluster.replicas or []) + 1 if info.cluster else 0

    assert asyncio.run(scenario()) == 3
