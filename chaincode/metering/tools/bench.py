"""`gridledger bench --workload metering`: ingestion and settlement, in the bench's report format.

Per rate of `--rates` (0: as fast as possible), setup registers fresh meters (one per 28
meter-days asked for, as many as SENDERS register at once) and two rounds are measured, each
sending no faster than that rate (open loop, like the power-data workload). Round `ingest`: February 2026 (local time), one signed batch of 96 readings per meter
and day, every meter's day ordered together (a meter's batches are a chain, so its days go one
after the other): throughput in meter-days per second, every meter signature checked by each
endorsing peer. Round `settle`: one bill per meter for that month, ordered together: bills
per second. Latency is from signing the proposal to seeing the commit.
"""

from __future__ import annotations

import calendar
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaincode.metering.tools.client import MeteringClient, Outcome
from chaincode.metering.tools.loads import day_readings, profile_of

if TYPE_CHECKING:
    from ledger.node.network import Network
    from ledger.tools.bench import RoundReport

DAYS = 28  # February 2026: a whole local month, so the settle round can bill it
PERIOD = "2026-02"
METERS_MAX = 500
OFFSET_MIN = 480  # the shipped tariff's UTC+8


def _round(label: str, started: float, ended: float, outcomes: list[tuple[float, Outcome]], rate: float) -> "RoundReport":
    from ledger.tools.bench import RoundReport, _latency_summary

    duration = max(ended - started, 1e-9)
    failures = Counter(o.code for _, o in outcomes if not o.ok)
    ordered = sorted(ms for ms, o in outcomes if o.ok)
    succ = len(ordered)
    send_rate = len(outcomes) / duration if rate <= 0 else min(rate, len(outcomes) / duration)  # as the power-data rounds report it
    return RoundReport(label, len(outcomes), succ, len(outcomes) - succ, dict(failures), send_rate, succ / duration, _latency_summary(ordered), duration, ordered)


class Pacer:
    """Open-loop pacing: the n-th call returns no earlier than n / rate seconds after the first
    (rate 0: at once), as `bench --rates` asks for the power-data workload."""

    def __init__(self, rate: float) -> None:
        self.rate, self.sent, self.start = rate, 0, 0.0

    def __call__(self) -> None:
        if self.rate <= 0:
            return
        now = time.perf_counter()
        if self.sent == 0:
            self.start = now
        delay = self.start + self.sent / self.rate - now
        if delay > 0:
            time.sleep(delay)
        self.sent += 1


def _label(what: str, rate: float) -> str:
    return f"{what}@{rate:g}/s" if rate > 0 else f"{what}@max"


def _measure(client: MeteringClient, meters: int, workers: int, rate: float) -> list["RoundReport"]:
    """Fresh meters, their February ingested at `rate` meter-days/s, then billed at `rate` bills/s."""
    run_id = os.urandom(3).hex().upper()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        handles = list(pool.map(lambda i: client.ensure_meter(
            f"B{run_id}-{i:04d}", customer=f"bench-{i}", rated_kw=profile_of(i).rated_kw, region="CN-32-01", voltage_kv=profile_of(i).voltage_kv), range(meters)))
    rng = random.Random(run_id)
    first_day = calendar.timegm((2026, 2, 1, 0, 0, 0)) // 60 - OFFSET_MIN
    days = [[(h, day_readings(profile_of(i), first_day + d * 1440, OFFSET_MIN, rng)) for i, h in enumerate(handles)] for d in range(DAYS)]
    ingested: list[tuple[float, Outcome]] = []
    pace = Pacer(rate)
    started = time.perf_counter()
    for batches in days:  # pre-built readings: the round measures signing, the ledger and the contract
        sent = time.perf_counter()
        for outcome in client.submit_round(batches, pace):
            ingested.append(((time.perf_counter() - sent) * 1000, outcome))
    ingest = _round(_label("ingest meter-days", rate), started, time.perf_counter(), ingested, rate)
    done_at: list[float] = []
    started = time.perf_counter()
    results = client.settle_meters([h.meter_id for h in handles], PERIOD, lambda: done_at.append(time.perf_counter()), Pacer(rate))
    settled = [((at - started) * 1000, outcome) for at, (_, outcome) in zip(done_at, results)]
    return [ingest, _round(_label("settle bills", rate), started, time.perf_counter(), settled, rate)]


def run(net: "Network", transactions: int, workers: int, *, quiet: bool, report_dir: Path | None, rates: Sequence[float] = (0.0,)) -> dict[str, Any]:
    """Per send rate of `rates` (0 = as fast as possible): `transactions` meter-days (rounded up
    to whole meters of DAYS days, fresh meters each time), then their bills."""
    from ledger.tools.benchrun import _table, print_table, write_report
    from ledger.tools.machine import machine_facts

    machine = machine_facts()  # before the rounds: the machine as the run found it
    meters = min(METERS_MAX, max(1, -(-transactions // DAYS)))
    client = MeteringClient(net)
    rounds = [measured for rate in rates for measured in _measure(client, meters, workers, rate)]
    net.wait_for_height(net.orderer.height, timeout_s=60)
    report = {
        **rounds[0].as_dict(),
        "rounds": [r.as_dict() for r in rounds],
        "workload": "metering",
        "rates": list(rates),
        "meters": meters, "days": DAYS, "readings_per_batch": 96,
        "network": {"peers": len(net.peers), "peer_processes": net.peer_processes, "senders": workers},
        "in_sync": len({(p.height, p.commit_hash) for p in net.status()}) == 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
    }
    print_table(_table(rounds, machine), quiet=quiet)
    if report_dir is not None:
        write_report(report_dir, report, rounds)
    return report
