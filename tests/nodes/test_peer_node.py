"""Peer nodes on NATS (`gridledger node run` of kind peer) on a real nats-server cluster.

The blocks come from the ledger's own code: a copy of the networked data directory is run
as the embedded network (same keys, same orderer identity), real transactions are
committed there, and its orderer's signed blocks are published into the blocks stream of
the NATS cluster with the orderer's own credentials. The networked peers must commit them
and reach the embedded peers' commit hash; a killed peer catches up on restart; endorse,
query and status answer over NATS with each peer's own credentials.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy
from nodekit import NodeProcesses, health_probe, init_networked, node_homes, wait_for
from peerkit import options, publish_blocks

from ledger.core.encoding import decode, encode
from ledger.core.messages import ProposalResponse, ResponsePayload, compute_tx_id
from ledger.gateway import creator_party, make_signoff
from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.node.supervisor import STOP_TIMEOUT_S
from ledger.peer.nats_peer import FETCH_WAIT_S, durable_name
from ledger.transport.nats_batch import decode_batch, encode_batch
from ledger.transport.nats_rpc import RemoteRefusal, parse_reply, query_request
from ledger.transport.subjects import ChannelSubjects

S = ChannelSubjects("gridchannel")
PEERS = ["peer0.Org1", "peer1.Org1", "peer0.Org2", "peer1.Org2"]
CONVERGE_S = 60.0
REQUEST_S = 5.0
BLOCKS_FIRST = 4  # blocks of the reference network published before a peer is killed


def reference_blocks(data: Path, scratch: Path) -> tuple[list[bytes], dict[str, str], Any]:
    """Blocks made by the embedded network of a copy of `data` (its orderer's signed blocks),
    the commit hash its peers reached, and a signed query proposal for the NATS peers."""
    copy = scratch / "reference"
    shutil.copytree(data, copy)
    with Network.open(copy, networked=False) as net:
        submit_many(net)
        blocks = list(net.orderer.blocks_from(0))
        hashes = {s.name: s.commit_hash for s in net.status()}
        reader = net.gateway(net.client_identity("Org1", "reader"))
        query = reader.propose(reader.new_invocation("queryUser", ["A"]), ())
        return blocks, hashes, query


def submit_many(net: Network, topups: int = 8) -> None:
    """Real transactions, one block each: a registration and top-ups, approved by the regulator."""
    alice = net.enroll("Org1", "alice")
    gateway = net.gateway(alice)
    calls = [("userRegister", ["Alice", "A"])] + [("userTopup", ["A", str(n + 1)]) for n in range(topups)]
    for function, args in calls:
        invocation = gateway.new_invocation(function, args)
        tx_id = compute_tx_id(invocation)
        gateway.submit(invocation, [creator_party(alice), make_signoff("approval", net.service_identity(net.approver_org), tx_id)])
        net.wait_for_height(net.orderer.height)


async def request(client: Path, subject: str, data: bytes, timeout_s: float = REQUEST_S) -> Any:
    return parse_reply(await raw_request(client, subject, data, timeout_s))


async def raw_request(client: Path, subject: str, data: bytes, timeout_s: float = REQUEST_S) -> bytes:
    nc = await nats.connect(**options(client))
    try:
        return (await nc.request(subject, data, timeout=timeout_s)).data
    finally:
        await nc.close()


def statuses(client: Path) -> dict[str, tuple[int, str]]:
    async def ask() -> dict[str, tuple[int, str]]:
        nc = await nats.connect(**options(client))
        out = {}
        try:
            for name in PEERS:
                try:
                    reply = parse_reply((await nc.request(S.peer(name, "status"), b"", timeout=1.0)).data)
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    continue
                out[name] = (reply["height"], reply["commit_hash"].hex())
        finally:
            await nc.close()
        return out

    return asyncio.run(ask())


def wait_converged(client: Path, height: int, hashes: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Every peer at `height` with the reference commit hash (polled with a deadline)."""
    want = {name: (height, hashes[name]) for name in PEERS}
    deadline = time.monotonic() + CONVERGE_S
    seen: dict[str, tuple[int, str]] = {}
    while time.monotonic() < deadline:
        seen = statuses(client)
        if seen == want:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"peers did not converge on {want}: {seen}")


@pytest.mark.timeout(300)
def test_peers_commit_the_block_stream_agree_and_a_killed_peer_catches_up(tmp_path: Path, nodes: NodeProcesses) -> None:
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    blocks, hashes, query = reference_blocks(data, tmp_path)
    assert len(blocks) > BLOCKS_FIRST + 2 and len(set(hashes.values())) == 1
    orderer, console = layout.node_dir("orderer0.OrdererOrg"), layout.node_dir("console.Org1")
    nodes.start_nats(data)
    asyncio.run(publish_blocks(orderer, blocks[: BLOCKS_FIRST + 1], create=True))  # genesis + 4
    peer_homes = {load_node_config(h).name: h for h in node_homes(data, "peer")}
    assert sorted(peer_homes) == sorted(PEERS)
    for home in peer_homes.values():
        nodes.start(home)
    # Midway the peers agree with each other (not yet with the final reference).
    deadline = time.monotonic() + CONVERGE_S
    while time.monotonic() < deadline:
        seen = statuses(console)
        if len(seen) == 4 and all(h == BLOCKS_FIRST + 1 for h, _ in seen.values()):
            break
        time.sleep(0.1)
    assert len(seen) == 4 and len(set(seen.values())) == 1, seen

    # A peer killed mid-stream misses blocks, then catches up by replaying on restart.
    victim = peer_homes["peer1.Org2"]
    os.kill(nodes.procs[victim].pid, signal.SIGKILL)
    nodes.procs[victim].wait()
    asyncio.run(publish_blocks(orderer, blocks[BLOCKS_FIRST + 1 :], create=False))
    assert "peer1.Org2" not in statuses(console)  # it is really down while blocks arrive
    nodes.start(victim)
    final = wait_converged(console, len(blocks), hashes)
    assert len(set(final.values())) == 1  # one height, one commit hash: the reference's

    # Endorsement and a query over NATS, asked of one peer with the console's credentials.
    payload = decode(asyncio.run(request(console, S.peer("peer0.Org2", "query"), query_request("evaluate", encode(query)))), ResponsePayload)
    assert payload.status == 200 and b"Token" in payload.result
    response = decode(asyncio.run(request(console, S.peer("peer1.Org2", "endorse"), encode(query))), ProposalResponse)
    assert response.endorsement.endorser and response.payload
    # A batch of proposals: each item answered as its single request is, in order.
    replies = decode_batch(asyncio.run(raw_request(console, S.peer("peer1.Org2", "endorse_batch"), encode_batch([encode(query), b"junk"]))))
    assert len(replies) == 2
    batched = decode(parse_reply(replies[0]), ProposalResponse)
    assert batched.payload == response.payload and batched.endorsement.endorser == response.endorsement.endorser
    with pytest.raises(RemoteRefusal) as alone:
        asyncio.run(request(console, S.peer("peer1.Org2", "endorse"), b"junk"))
    with pytest.raises(RemoteRefusal) as in_batch:
        parse_reply(replies[1])
    assert in_batch.value.code == alone.value.code == "PEER_ERROR"
    assert asyncio.run(request(console, S.peer("peer1.Org2", "query"), query_request("tx_location", "nope"))) is None


IDLE_FETCHES = 3
PEER_STOP_S = 10.0  # a SIGTERMed peer is gone well within the supervisor's STOP_TIMEOUT_S (20 s)


def test_a_sigtermed_peer_stops_cleanly_within_the_supervisors_patience(tmp_path: Path, nodes: NodeProcesses) -> None:
    """Before the fix, draining the connection waited on the blocks pull subscription's
    unread status messages for nats-py's 30 s drain timeout: `up --networked` SIGKILLed
    every peer at Ctrl-C."""
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    nodes.start_nats(data)
    genesis = layout.genesis_file.read_bytes()
    asyncio.run(publish_blocks(layout.node_dir("orderer0.OrdererOrg"), [genesis], create=True))
    home = layout.node_dir("peer0.Org1")
    proc = nodes.start(home)
    config = load_node_config(home)
    # healthy = NATS connected and the blocks consumer fetching (its subscription exists)
    wait_for(lambda: health_probe(config)[0] == 200, what="peer0.Org1 healthy with its blocks consumer")
    # The scenario itself, not a wait for readiness: an idle peer whose empty fetches have
    # expired a few times (the server's late "408" replies are what stayed unread).
    time.sleep(IDLE_FETCHES * FETCH_WAIT_S)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(STOP_TIMEOUT_S + 15)
    took = time.monotonic() - started
    assert code == 0, (home / "test-run.log").read_text()[-2000:]
    assert took < PEER_STOP_S < STOP_TIMEOUT_S, f"SIGTERM to exit took {took:.1f} s"


async def cursor_info(orderer: Path, peer: str) -> Any:
    """The peer's blocks consumer as the cluster reports it (asked with an orderer's credentials)."""
    nc = await nats.connect(**options(orderer))
    try:
        return await nc.jetstream().consumer_info(S.blocks_stream, durable_name(peer))
    finally:
        await nc.close()


@pytest.mark.timeout(300)
def test_a_peers_blocks_cursor_keeps_no_replicated_state_and_its_servers_death_costs_no_block(tmp_path: Path, nodes: NodeProcesses) -> None:
    """The blocks consumer is a read cursor (AckNone, one replica, in memory): the server
    that holds it is SIGKILLed, the peer makes it again from its height on a live server
    and commits every later block."""
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    blocks, hashes, _ = reference_blocks(data, tmp_path)
    orderer, console = layout.node_dir("orderer0.OrdererOrg"), layout.node_dir("console.Org1")
    nodes.start_nats(data)
    asyncio.run(publish_blocks(orderer, blocks[: BLOCKS_FIRST + 1], create=True))
    peer_homes = {load_node_config(h).name: h for h in node_homes(data, "peer")}
    for home in peer_homes.values():
        nodes.start(home)
    wait_for(lambda: all(h == BLOCKS_FIRST + 1 for h, _ in statuses(console).values()) and len(statuses(console)) == 4, timeout_s=CONVERGE_S, what="every peer at the first blocks")

    info = asyncio.run(cursor_info(orderer, "peer0.Org1"))
    assert info.config.ack_policy == AckPolicy.NONE and info.config.mem_storage, info.config
    assert info.cluster is not None and not info.cluster.replicas, info.cluster  # no followers: one replica
    holder = layout.node_dir(info.cluster.leader)
    os.kill(nodes.procs[holder].pid, signal.SIGKILL)
    nodes.procs[holder].wait()

    asyncio.run(publish_blocks(orderer, blocks[BLOCKS_FIRST + 1 :], create=False))
    final = wait_converged(console, len(blocks), hashes)
    assert len(set(final.values())) == 1
    remade = asyncio.run(cursor_info(orderer, "peer0.Org1"))  # made again, on a live server
    assert remade.cluster is not None and remade.cluster.leader not in (None, info.cluster.leader), remade.cluster
