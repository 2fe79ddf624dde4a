"""Throughput of the JetStream ordering service alone: envelopes/s from the first broadcast
until the last of them is in the blocks stream. Three NATS servers (R3, fsync always) and
three orderer nodes as `gridledger node run` processes on loopback; one client broadcasts
signed envelopes of about --pad bytes with --in-flight requests outstanding.

    .venv/bin/python tests/nodes/bench_orderer.py --tx 5000 --in-flight 64

Not a test (pytest does not collect it): a measurement, printed as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["GRIDLEDGER_FAST_KDF"] = "1"
os.environ.setdefault("GRIDLEDGER_LOG_LEVEL", "WARNING")

from nats.js.api import ConsumerConfig, DeliverPolicy
from nodekit import NodeProcesses, init_networked
from orderkit import SUBJECTS, Client, Heartbeats, Net, envelope

from ledger.core.encoding import decode
from ledger.core.messages import Block

ORDERERS = ["orderer0.OrdererOrg", "orderer1.OrdererOrg", "orderer2.OrdererOrg"]


async def measure(net: Net, count: int, in_flight: int, pad: int) -> dict[str, object]:
    admin = net.admin()
    made = [envelope(admin, i, pad=pad)[1] for i in range(count)]
    client = await Client.connect(net.client_options())
    beats = Heartbeats()
    await beats.listen(client.nc)
    await beats.wait(ORDERERS, lambda b: b["height"] >= 1, what="three orderers up")
    ordered = 0
    blocks = 0
    all_in = asyncio.Event()

    async def on_block(msg: object) -> None:
        nonlocal ordered, blocks
        block = decode(msg.data, Block)  # type: ignore[attr-defined]
        if block.header.number > 0:
            ordered += len(block.data)
            blocks += 1
        if ordered >= count:
            all_in.set()

    await client.js.subscribe(SUBJECTS.blocks, ordered_consumer=True, cb=on_block, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    gate = asyncio.Semaphore(in_flight)
    latencies: list[float] = []

    async def one(data: bytes) -> None:
        async with gate:
            started = time.perf_counter()
            accepted, code = await client.broadcast(data)
            assert accepted, code
            latencies.append(time.perf_counter() - started)

    procs = {home.name: proc.pid for home, proc in net.nodes.procs.items()}
    cpu_before = {name: _cpu_s(pid) for name, pid in procs.items()}
    client_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(one(e) for e in made))
    acked_s = time.perf_counter() - started
    await asyncio.wait_for(all_in.wait(), timeout=120)
    elapsed = time.perf_counter() - started
    cpu = {name.split(".")[0]: round(_cpu_s(pid) - cpu_before[name], 2) for name, pid in procs.items()}
    client_cpu = round(time.process_time() - client_before, 2)
    await client.close()
    latencies.sort()
    return {
        "envelopes": count,
        "envelope_bytes": len(made[0]),
        "in_flight": in_flight,
        "blocks": blocks,
        "envelopes_per_s": round(count / elapsed, 1),
        "broadcast_acks_per_s": round(count / acked_s, 1),
        "broadcast_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "broadcast_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "elapsed_s": round(elapsed, 2),
        "cpu_s": {**cpu, "client": client_cpu},
        "client_retries": client.retries,
    }


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().split(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tx", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--pad", type=int, default=2500, help="bytes of argument padding per envelope (bench transactions are ~3 KB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nodes = NodeProcesses()
        try:
            net = Net(init_networked(Path(tmp)), nodes)
            net.start()
            print(json.dumps(asyncio.run(measure(net, args.tx, args.in_flight, args.pad))))
        finally:
            nodes.stop()


if __name__ == "__main__":
    main()
