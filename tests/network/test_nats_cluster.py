"""The NATS cluster the ordering service runs on: fsync on every write, replicated streams."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import nats
from nats.js.api import StorageType, StreamConfig
from natskit import Cluster


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
        ack = await js.publish("t", b"x", headers={"Nats-Msg-Id": "a"})
        again = await js.publish("t", b"x", headers={"Nats-Msg-Id": "a"})
        assert again.duplicate and again.seq == ack.seq
        info = await js.stream_info("T")
        await nc.close()
        return len(info.cluster.replicas or []) + 1 if info.cluster else 0

    assert asyncio.run(scenario()) == 3
