"""The ordering service over JetStream: three orderer nodes (`gridledger node run`) on a
real 3-server NATS cluster cut identical blocks, order each transaction once, refuse bad
envelopes with their codes, survive a SIGKILL of one of them and resume from the streams."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from nodekit import NodeProcesses, init_networked, wait_for
from orderkit import ORDERERS, SUBJECTS, Client, Heartbeats, Net, check_chain, envelope, orderers_up, signer_names, tx_ids_of

from ledger.core.blocks import seal_block
from ledger.core.channel import Channel
from ledger.core.codes import OrdererCode
from ledger.core.encoding import decode, encode
from ledger.core.identity import CertificateAuthority
from ledger.core.messages import Block, Envelope, block_hash
from ledger.node.netstatus import networked_status
from ledger.transport import nats_link as link

IN_FLIGHT = 32
STOP_S = 10.0  # SIGSTOP of an orderer, as the issue asks


async def broadcast_all(client: Client, envelopes: list[bytes], in_flight: int = IN_FLIGHT) -> list[tuple[bool, str]]:
    gate = asyncio.Semaphore(in_flight)

    async def one(data: bytes) -> tuple[bool, str]:
        async with gate:
            return await client.broadcast(data)

    return await asyncio.gather(*(one(e) for e in envelopes))


async def each_ordered_once(client: Client, load: asyncio.Task[list[tuple[bool, str]]], made: list[tuple[str, bytes]], channel: Channel) -> list[Block]:
    """The blocks once every envelope of the load was accepted and each is ordered exactly
    once (no gap, no duplicate) in a chain that checks."""
    answers = await load
    assert all(accepted for accepted, _ in answers)
    blocks = await client.wait_tx_ids({t for t, _ in made})
    ordered = [t for b in blocks[1:] for t in tx_ids_of(b)]
    assert len(ordered) == len(set(ordered)) == len(made), "a gap or a duplicate"
    check_chain(blocks, channel)
    return blocks


def confirmed_everything(height: int, last_hash: bytes):  # type: ignore[no-untyped-def]
    return lambda beat: beat["height"] == height and beat["block_hash"] == last_hash


def test_three_orderers_cut_identical_blocks_order_each_tx_once_and_refuse_with_codes(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(init_networked(tmp_path), nodes)
    net.start()
    admin = net.admin()
    channel = net.channel
    tried: dict[str, str] = {}

    async def scenario() -> None:
        async with orderers_up(net) as (client, beats):
            made = [envelope(admin, i, pad=2000) for i in range(600)]
            tx_ids = [t for t, _ in made]
            # every envelope broadcast concurrently, a sixth of them twice at once, then again
            retried = [e for _, e in made[::6]]
            answers = await broadcast_all(client, [e for _, e in made] + retried)
            answers += await broadcast_all(client, retried)
            assert all(accepted for accepted, _ in answers), {code for ok, code in answers if not ok}
            tried["broadcasts (with retried tx ids)"] = f"{len(answers)} accepted"

            # refusals, each with its code, and none of them ordered
            refused_tx, good = envelope(admin, 10_000)
            outer = decode(good, Envelope)
            forged = encode(Envelope(outer.payload, bytes(64)))
            stranger = CertificateAuthority.generate("Mallory").issue("mallory", "client")
            _, foreign = envelope(stranger, 10_001)
            _, other_channel = envelope(admin, 10_002, channel="otherchannel")
            oversized = envelope(admin, 10_003, pad=channel.config.batch.absolute_max_bytes)[1]
            cases = {
                "garbage": (b"\x00not an envelope", OrdererCode.BAD_PAYLOAD),
                "bad creator signature": (forged, OrdererCode.BAD_CREATOR_SIGNATURE),
                "unknown organization": (foreign, OrdererCode.UNKNOWN_IDENTITY),
                "other channel": (other_channel, OrdererCode.BAD_CHANNEL),
                "over the absolute maximum": (oversized, OrdererCode.TOO_LARGE),
            }
            for what, (data, code) in cases.items():
                accepted, answered = await client.broadcast_once(data)
                assert not accepted and answered == code, (what, answered)
                tried[what] = answered

            blocks = await client.wait_tx_ids(set(tx_ids))
            ordered = [t for b in blocks[1:] for t in tx_ids_of(b)]
            assert len(ordered) == len(set(ordered)) == len(tx_ids), "a transaction was ordered twice"
            assert refused_tx not in ordered
            check_chain(blocks, channel)
            height, last_hash = len(blocks), block_hash(blocks[-1].header)
            # every orderer confirmed every block: appended it first, or found the stored
            # one equal (same header hash) to the block it cut itself
            await beats.wait(ORDERERS, confirmed_everything(height, last_hash), what="every orderer at the stream's height")
            for name in ORDERERS:
                beat = beats.latest[name]
                assert beat["appended"] + beat["matched"] == height, beat
                # a duplicate publish id names the header too: no block was read back to compare
                assert beat["read_back"] == 0, beat
            assert sum(beats.latest[n]["appended"] for n in ORDERERS) == height
            signers = signer_names(blocks, channel)
            tried["blocks"] = f"{height} (appended by {signers})"
            heights["stream"] = height

    heights: dict[str, int] = {}
    asyncio.run(scenario())
    # `gridledger status` hears the orderers' heartbeats: each is alive at the stream's height
    status = networked_status(net.data)
    orderer_rows = [n for n in status["nodes"] if n["kind"] == "orderer"]
    assert [n["name"] for n in orderer_rows] == ORDERERS
    assert all(n["alive"] and n["height"] == heights["stream"] for n in orderer_rows), orderer_rows
    net.check_orderers_running()
    print("tried and held:", tried)
    assert len(tried) == 7


def test_sigkill_of_an_orderer_under_load_no_gap_no_duplicate_and_restart_resumes(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(init_networked(tmp_path), nodes)
    net.start()
    admin = net.admin()
    channel = net.channel
    homes = {home.name: home for home in net.orderer_homes}
    held: dict[str, object] = {}

    async def scenario() -> None:
        async with orderers_up(net) as (client, beats):
            made = [envelope(admin, i, pad=1000) for i in range(1500)]
            load = asyncio.create_task(broadcast_all(client, [e for _, e in made], in_flight=16))
            await client.wait_tx_ids({t for t, _ in made[:300]})
            # kill the orderer that appended the latest block
            latest = (await client.blocks())[-1]
            victim = next(n for n in signer_names([latest, latest], channel))
            proc = nodes.procs[homes[victim]]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            held["killed"] = f"{victim} after block {latest.header.number}"
            blocks = await each_ordered_once(client, load, made, channel)
            held["blocks after the kill"] = len(blocks) - latest.header.number - 1
            assert held["blocks after the kill"] > 0  # type: ignore[operator]
            survivors = [n for n in ORDERERS if n != victim]
            await beats.wait(survivors, confirmed_everything(len(blocks), block_hash(blocks[-1].header)), what="the survivors at the stream's height")

            # restart: it resumes from the streams and takes part again
            nodes.start(homes[victim])
            beats.latest.pop(victim, None)
            more = [envelope(admin, 5000 + i) for i in range(200)]
            assert all(ok for ok, _ in await broadcast_all(client, [e for _, e in more]))
            blocks = await client.wait_tx_ids({t for t, _ in made + more})
            ordered = [t for b in blocks[1:] for t in tx_ids_of(b)]
            assert len(ordered) == len(set(ordered)) == len(made) + len(more)
            check_chain(blocks, channel)
            await beats.wait(ORDERERS, confirmed_everything(len(blocks), block_hash(blocks[-1].header)), what="all three at the stream's height")
            held["restarted at height"] = beats.latest[victim]["height"]
            held["client retries"] = client.retries

    asyncio.run(scenario())
    net.check_orderers_running()
    print("tried and held:", held)


def test_a_stored_block_that_differs_from_the_one_an_orderer_cuts_stops_it(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(init_networked(tmp_path), nodes)
    nodes.start_nats(net.data)
    home = net.layout.node_dir("orderer0.OrdererOrg")
    proc = nodes.start(home)
    admin = net.admin()

    async def scenario() -> None:
        client = await Client.connect(net.client_options())
        beats = Heartbeats()
        await beats.listen(client.nc)
        # the test holds orderer1's credentials: it appends its own block 1 first
        rogue = await Client.connect(net.client_options("orderer1.OrdererOrg"))
        try:
            await beats.wait(["orderer0.OrdererOrg"], lambda b: b["height"] == 1, what="orderer0 up")
            genesis = (await client.blocks())[0]
            _, other = envelope(admin, 1)
            forged = seal_block(1, block_hash(genesis.header), [other], net.orderer_identity("orderer1.OrdererOrg"), 1)
            headers = {link.MSG_ID: "1", link.EXPECTED_LAST_SEQ: "1", link.RESUME_SEQ: "1"}
            await rogue.js.publish(SUBJECTS.blocks, encode(forged), headers=headers)
            accepted, _ = await client.broadcast(envelope(admin, 2)[1])
            assert accepted
        finally:
            await rogue.close()
            await client.close()

    asyncio.run(scenario())
    wait_for(lambda: proc.poll() is not None, timeout_s=30, what="orderer0 to stop")
    assert proc.returncode == 1
    assert "the orderers diverged" in net.log_of(home)


def test_sigkill_of_the_envelopes_stream_leader_under_load_loses_and_duplicates_nothing(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(init_networked(tmp_path), nodes)
    net.start()
    admin = net.admin()
    channel = net.channel
    held: dict[str, object] = {}

    async def scenario() -> None:
        async with orderers_up(net) as (client, beats):
            made = [envelope(admin, i, pad=1000) for i in range(1500)]
            load = asyncio.create_task(broadcast_all(client, [e for _, e in made], in_flight=16))
            await client.wait_tx_ids({t for t, _ in made[:300]})
            # only orderers may look at the envelopes stream: ask with an orderer's credentials
            insider = await Client.connect(net.client_options("orderer0.OrdererOrg"))
            info = await insider.api(lambda: insider.js.stream_info(SUBJECTS.envelopes_stream))
            await insider.close()
            leader = info.cluster.leader
            home = net.layout.node_dir(leader)
            proc = nodes.procs[home]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            held["killed"] = f"{leader} (envelopes stream leader)"
            blocks = await each_ordered_once(client, load, made, channel)
            await beats.wait(ORDERERS, confirmed_everything(len(blocks), block_hash(blocks[-1].header)), what="every orderer at the stream's height")
            held["blocks"] = len(blocks)
            held["client retries"] = client.retries
            nodes.start(home)  # the server comes back and the service goes on
            more = [envelope(admin, 5000 + i) for i in range(100)]
            assert all(ok for ok, _ in await broadcast_all(client, [e for _, e in more]))
            blocks = await client.wait_tx_ids({t for t, _ in made + more})
            check_chain(blocks, channel)

    asyncio.run(scenario())
    net.check_orderers_running()
    print("tried and held:", held)


def test_sigstop_of_an_orderer_for_ten_seconds_then_sigcont_it_catches_up(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(init_networked(tmp_path), nodes)
    net.start()
    admin = net.admin()
    channel = net.channel
    victim = net.layout.node_dir("orderer1.OrdererOrg")
    held: dict[str, object] = {}

    async def scenario() -> None:
        async with orderers_up(net) as (client, beats):
            made = [envelope(admin, i, pad=1000) for i in range(1200)]
            load = asyncio.create_task(broadcast_all(client, [e for _, e in made], in_flight=16))
            await client.wait_tx_ids({t for t, _ in made[:200]})
            pid = nodes.procs[victim].pid
            os.kill(pid, signal.SIGSTOP)
            stopped_at = (await client.blocks())[-1].header.number
            await asyncio.sleep(STOP_S)  # the fault itself lasts this long; nothing is awaited
            resumed_at = (await client.blocks())[-1].header.number
            os.kill(pid, signal.SIGCONT)
            assert resumed_at > stopped_at, "the other orderers did not go on while one was stopped"
            blocks = await each_ordered_once(client, load, made, channel)
            await beats.wait(ORDERERS, confirmed_everything(len(blocks), block_hash(blocks[-1].header)), what="the stopped orderer caught up")
            held["blocks cut while it was stopped"] = resumed_at - stopped_at
            held["client retries"] = client.retries

    asyncio.run(scenario())
    net.check_orderers_running()
    print("tried and held:", held)


def test_everything_killed_and_started_again_goes_on_from_the_streams_on_disk(tmp_path: Path, nodes: NodeProcesses) -> None:
    net = Net(init_networked(tmp_path), nodes)
    net.start()
    admin = net.admin()
    channel = net.channel

    async def burst(first: int, count: int) -> tuple[list[str], list[bytes], int]:
        async with orderers_up(net) as (client, beats):
            made = [envelope(admin, first + i) for i in range(count)]
            assert all(ok for ok, _ in await broadcast_all(client, [e for _, e in made]))
            blocks = await client.wait_tx_ids({t for t, _ in made})
            check_chain(blocks, channel)
            await beats.wait(ORDERERS, confirmed_everything(len(blocks), block_hash(blocks[-1].header)), what="every orderer at the stream's height")
            return [t for b in blocks[1:] for t in tx_ids_of(b)], [encode(b.header) for b in blocks], len(blocks)

    _, headers_before, height_before = asyncio.run(burst(0, 300))
    nodes.stop()  # SIGKILL of every NATS server and orderer: only their disks remain
    net.start()
    ordered, headers_after, height_after = asyncio.run(burst(1000, 300))
    assert headers_after[:height_before] == headers_before, "the chain changed across the restart"
    assert height_after > height_before
    assert len(ordered) == len(set(ordered)) == 600


IDLE_S = 3.0
IDLE_CPU_SHARE_MAX = 0.01  # of one core; the batch timer's 10 ms tick alone cost ~2 %


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_orderer_sleeps_and_its_batch_timer_still_cuts_a_lone_envelope(tmp_path: Path, nodes: NodeProcesses) -> None:
    """The batch timer sleeps until a waiting block's deadline (no periodic tick): idle,
    each orderer uses under 1 % of a core; one envelope is still cut into a block by its
    timer marker, within a few batch timeouts."""
    net = Net(init_networked(tmp_path), nodes)
    net.start()
    admin = net.admin()
    timeout_s = net.channel.config.batch.batch_timeout_ms / 1000

    async def scenario() -> dict[str, float]:
        async with orderers_up(net) as (client, beats):
            pids = {home.name: nodes.procs[home].pid for home in net.orderer_homes}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            await asyncio.sleep(IDLE_S)  # the quantity measured is idleness itself
            shares = {name: (cpu_seconds(pid) - before[name]) / IDLE_S for name, pid in pids.items()}
            markers = sum(beats.latest[n]["markers"] for n in ORDERERS)
            tx_id, data = envelope(admin, 1)
            loop = asyncio.get_running_loop()
            sent = loop.time()
            accepted, code = await client.broadcast(data)
            assert accepted, code
            blocks = await client.wait_tx_ids({tx_id})
            cut_s = loop.time() - sent
            assert [tx_id] == tx_ids_of(blocks[-1])  # a block of its own: cut by the timer
            await beats.wait(ORDERERS, lambda b: b["height"] == len(blocks), what="orderers at the new height")
            assert sum(beats.latest[n]["markers"] for n in ORDERERS) > markers
            return {**shares, "cut_s": cut_s}

    seen = asyncio.run(scenario())
    print("idle CPU share per orderer and the lone envelope's time to its block:", seen)
    for name in (h.name for h in net.orderer_homes):
        assert seen[name] < IDLE_CPU_SHARE_MAX, seen
    assert seen["cut_s"] < max(2.0, 20 * timeout_s), seen
    net.check_orderers_running()
