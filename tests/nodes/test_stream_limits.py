"""JetStream stream limits of the ordering service, on a real 3-server cluster with orderer nodes.

The blocks stream keeps every block for ever (peers catch up from any height): no byte,
age or count limit, deletes and purges refused, discard NEW. The envelopes stream (the
ordering queue) is bounded in message size, bytes and age, oldest first. An oversized
envelope is refused with the stable code TOO_LARGE at every layer it can reach: the
orderers' admission check, the gateway side (beyond the servers' max_payload it is never
sent) and the envelopes stream itself (its max_msg_size, error 10054, which an orderer
answers as TOO_LARGE too).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
import yaml
from nats.js.api import DiscardPolicy, StorageType
from nats.js.errors import APIError
from nodekit import ADMIN_PASSWORD, NodeProcesses, free_base_port, node_homes
from orderkit import ORDERERS, SUBJECTS, Net, envelope, orderers_up

from ledger.core.codes import OrdererCode
from ledger.core.errors import LedgerError
from ledger.node.init import init_network
from ledger.node.natsconf import max_payload
from ledger.node.spec import default_config_path
from ledger.transport import nats_link as link
from ledger.transport.nats_client import NatsClient
from ledger.transport.nats_remote import RemoteOrderer, RemotePeer

ABSOLUTE_MAX = 64 << 10  # small batch limits: oversized envelopes stay cheap to make
PREFERRED_MAX = 32 << 10
STREAM_MSG_MAX_PRESET = 16 << 10  # a stream made by hand with a smaller limit than admission's


def small_limits_network(tmp: Path) -> Path:
    spec = yaml.safe_load(default_config_path().read_text())
    spec["orderer"]["batch"].update(absolute_max_bytes=ABSOLUTE_MAX, preferred_max_bytes=PREFERRED_MAX)
    path = tmp / "network.yaml"
    path.write_text(yaml.safe_dump(spec))
    data = tmp / "net"
    init_network(path, data, admin_password=ADMIN_PASSWORD, networked=True, base_port=free_base_port())
    return data


def test_streams_have_named_limits_and_an_oversized_envelope_is_refused_too_large(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(small_limits_network(tmp_path), nodes)
    net.start()
    admin = net.admin()
    batch = net.channel.config.batch
    seen: dict[str, str] = {}

    async def scenario() -> None:
        async with orderers_up(net) as (client, _):
            orderer_nc = await nats.connect(**net.client_options(ORDERERS[0]))
            try:
                js, ojs = client.js, orderer_nc.jetstream()  # only orderers may look at the envelopes stream
                envelopes = (await client.api(lambda: ojs.stream_info(SUBJECTS.envelopes_stream))).config
                blocks = (await client.api(lambda: js.stream_info(SUBJECTS.blocks_stream))).config
                assert envelopes.storage == StorageType.FILE and envelopes.num_replicas == 3
                assert envelopes.max_msg_size == link.envelope_max_bytes(batch) == ABSOLUTE_MAX + link.ENVELOPE_HEADERS_HEADROOM
                assert envelopes.max_bytes == link.ENVELOPES_MAX_BYTES and envelopes.max_age == link.ENVELOPES_MAX_AGE_S
                assert envelopes.discard == DiscardPolicy.OLD
                assert blocks.max_bytes == -1 and blocks.max_msgs == -1 and not blocks.max_age
                assert blocks.discard == DiscardPolicy.NEW and blocks.deny_delete and blocks.deny_purge
                assert blocks.max_msg_size == link.block_max_bytes(batch) < max_payload(ABSOLUTE_MAX, PREFERRED_MAX)
                seen["limits"] = f"envelopes {envelopes.max_msg_size} B/msg, {envelopes.max_bytes} B, {envelopes.max_age:.0f} s; blocks unlimited, no delete/purge"

                # An orderer (the only kind allowed to) cannot delete or purge a block either.
                with pytest.raises(APIError):
                    await ojs.delete_msg(SUBJECTS.blocks_stream, 1)
                with pytest.raises(APIError):
                    await ojs.purge_stream(SUBJECTS.blocks_stream)
                assert (await client.api(lambda: js.stream_info(SUBJECTS.blocks_stream))).state.first_seq == 1

                # The envelopes stream refuses a message beyond its max_msg_size (below max_payload).
                with pytest.raises(APIError) as refused:
                    await ojs.publish(SUBJECTS.envelopes, b"x" * (link.envelope_max_bytes(batch) + 1), headers={link.MSG_ID: "too-big"}, timeout=10)
                assert refused.value.err_code == link.JS_MESSAGE_TOO_LARGE
                seen["stream publish over max_msg_size"] = f"error {refused.value.err_code}"

                # Admission: over the channel's absolute maximum, under max_payload.
                _, over_absolute = envelope(admin, 1, pad=ABSOLUTE_MAX)
                accepted, code = await client.broadcast_once(over_absolute)
                assert not accepted and code == OrdererCode.TOO_LARGE
                seen["broadcast over absolute_max_bytes"] = code
                # A normal one is still ordered.
                _, fine = envelope(admin, 2, pad=1000)
                assert await client.broadcast(fine) == (True, "")
            finally:
                await orderer_nc.close()

    asyncio.run(scenario())

    # The gateway side: beyond the servers' max_payload the envelope is never sent; TOO_LARGE.
    remote = NatsClient(net.client_options())
    try:
        orderer = RemoteOrderer(remote, SUBJECTS, ORDERERS)
        _, huge = envelope(admin, 3, pad=max_payload(ABSOLUTE_MAX, PREFERRED_MAX) + 1)
        result = orderer.broadcast(huge)
        assert not result.accepted and result.code == OrdererCode.TOO_LARGE, result
        seen["gateway broadcast over max_payload"] = result.code
        # A proposal that large is refused alike when the gateway asks a peer to endorse it.
        peer = RemotePeer(remote, SUBJECTS, "peer0.Org1", admin.identity)
        with pytest.raises(LedgerError) as endorse_refused:
            peer.endorse(huge).result(30)
        assert endorse_refused.value.code == OrdererCode.TOO_LARGE
        seen["endorse over max_payload"] = endorse_refused.value.code
    finally:
        remote.close()
    net.check_orderers_running()
    print("stream limits:", seen)
    assert len(seen) == 5


def test_an_envelope_the_stream_refuses_as_too_large_is_answered_too_large_by_the_orderer(tmp_path: Path, nodes: NodeProcesses) -> None:
    """A stream made beforehand with a smaller max_msg_size than admission allows (by hand, by
    an older build) is used as it is; what it refuses the orderer answers TOO_LARGE, not
    SERVICE_UNAVAILABLE (which a gateway would retry for 20 s)."""
    net = Net(small_limits_network(tmp_path), nodes)
    nodes.start_nats(net.data)
    admin = net.admin()
    batch = net.channel.config.batch

    async def preset() -> None:
        nc = await nats.connect(**net.client_options(ORDERERS[0]))
        try:
            config = link.envelopes_stream_config(SUBJECTS.envelopes_stream, SUBJECTS.envelopes, 3, batch)
            config.max_msg_size = STREAM_MSG_MAX_PRESET
            await link.ensure_stream(nc.jetstream(), config)
        finally:
            await nc.close()

    asyncio.run(preset())
    for home in node_homes(net.data, "orderer"):
        nodes.start(home)

    async def scenario() -> None:
        async with orderers_up(net) as (client, beats):
            _, between = envelope(admin, 1, pad=STREAM_MSG_MAX_PRESET)  # admitted, but over the stream's limit
            assert STREAM_MSG_MAX_PRESET < len(between) < ABSOLUTE_MAX
            assert await client.broadcast_once(between) == (False, OrdererCode.TOO_LARGE)
            _, fine = envelope(admin, 2, pad=1000)
            assert await client.broadcast(fine) == (True, "")

    asyncio.run(scenario())
