"""A Caliper-style benchmark driver: rounds of transactions at a fixed send rate.

The workload (which functions, which users) comes from the chaincode's side through the
`Workload` protocol, named in the network file, so the ledger stays ignorant of what the
chaincode does. Every transaction is really endorsed, ordered, validated and committed:
every signature is made and checked and every block is fsynced.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.core.codes import ValidationCode
from ledger.core.identity import SigningIdentity
from ledger.core.messages import Invocation, Signoff, compute_tx_id
from ledger.gateway import Gateway, GatewayError, PendingTransaction, creator_party, make_signoff

SENDERS_DEFAULT = 16
# Over NATS a sender waits ~5-10x longer per transaction (endorse and broadcast are network
# round trips through the cluster, the broadcast acknowledged only once JetStream R3 has it
# on disk): 16 senders capped the networked rounds at 16 transactions in flight, ~130 tx/s
# on this 2-core machine, the nodes' per-message costs unbatched (JetStream groups fsyncs only
# across concurrent writes). 64, in A/B runs: 1.2-1.9x the VALID tx/s while the machine had
# spare CPU, no gain while other jobs held it; p50 2-5x higher (README, "Performance").
NETWORKED_SENDERS_DEFAULT = 64
BENCH_CLIENT = "bench-client"  # the identity of steps without parties
ROUND_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Step:
    function: str
    args: tuple[str, ...]
    parties: tuple[str, ...]  # names of the users whose "party" signoff the transaction needs


class Workload(Protocol):
    def setup_phases(self) -> list[list[Step]]:
        """Phases run in order before measuring (steps inside a phase run concurrently)."""
        ...

    def round(self, count: int) -> list[Step]:
        """The measured transactions."""
        ...


def load_workload(entry_point: str, **kwargs: Any) -> Workload:
    module_name, _, attr = entry_point.partition(":")
    workload: Workload = getattr(importlib.import_module(module_name), attr)(**kwargs)
    return workload


@dataclass
class RoundReport:
    label: str
    sent: int
    succ: int
    fail: int
    failures: dict[str, int]
    send_rate_tps: float
    throughput_tps: float
    latency_ms: dict[str, float]
    duration_s: float
    latencies: list[float] = field(default_factory=list, repr=False)
    cpu_ms_per_tx: dict[str, float] = field(default_factory=dict)  # role -> CPU ms per committed VALID tx

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "sent": self.sent,
            "succ": self.succ,
            "fail": self.fail,
            "failures": self.failures,
            "send_rate_tps": round(self.send_rate_tps, 1),
            "throughput_tps": round(self.throughput_tps, 1),
            "latency_ms": {k: round(v, 1) for k, v in self.latency_ms.items()},
            "duration_s": round(self.duration_s, 3),
            "cpu_ms_per_tx": self.cpu_ms_per_tx,
        }


class Driver:
    """Signs and submits steps: each user's party signoff plus the approver's approval."""

    def __init__(self, gateway_for: Callable[[SigningIdentity], Gateway], user: Callable[[str], SigningIdentity], approver: SigningIdentity) -> None:
        self.gateway_for = gateway_for
        self._load_user = user
        self._users: dict[str, SigningIdentity] = {}
        self.approver = approver
        self._gateways: dict[str, Gateway] = {}
        self._lock = threading.Lock()

    def user(self, name: str) -> SigningIdentity:
        identity = self._users.get(name)
        if identity is None:
            identity = self._users[name] = self._load_user(name)
        return identity

    def _gateway(self, name: str) -> Gateway:
        with self._lock:
            gateway = self._gateways.get(name)
            if gateway is None:
                gateway = self._gateways[name] = self.gateway_for(self.user(name))
            return gateway

    def prepare(self, steps: Sequence[Step]) -> None:
        """Enroll every user the steps name and open their gateways now, before a round is
        timed: issuing a certificate and writing its key file is identity provisioning (an
        organization's CA, done once per user), not work of the transactions measured."""
        self._gateway(BENCH_CLIENT)  # the round's loop comes from it
        for step in steps:
            self._gateway(step.parties[0] if step.parties else BENCH_CLIENT)
            for party in step.parties:
                self.user(party)

    def _prepared(self, step: Step) -> tuple[Gateway, Invocation, list[Signoff]]:
        gateway = self._gateway(step.parties[0] if step.parties else BENCH_CLIENT)
        invocation = gateway.new_invocation(step.function, step.args)
        tx_id = compute_tx_id(invocation)
        # the first party submits, so its proposal signature covers its party signoff
        signoffs = [creator_party(self.user(p)) if i == 0 else make_signoff("party", self.user(p), tx_id) for i, p in enumerate(step.parties)]
        signoffs.append(make_signoff("approval", self.approver, tx_id))
        return gateway, invocation, signoffs

    def submit(self, step: Step, on_commit: Callable[[str], None]) -> None:
        """Endorse and order one step; `on_commit` gets "VALID" or the refusal / validation code."""
        gateway, invocation, signoffs = self._prepared(step)
        try:
            pending = gateway.submit_async(invocation, signoffs)
        except GatewayError as exc:
            on_commit(exc.code)
            return
        _report_commit(pending, on_commit)

    async def submit_aio(self, step: Step, on_commit: Callable[[str], None]) -> None:
        """`submit` as a task on `event_loop()`."""
        gateway, invocation, signoffs = self._prepared(step)
        try:
            pending = await gateway.submit_aio(invocation, signoffs)
        except GatewayError as exc:
            on_commit(exc.code)
            return
        _report_commit(pending, on_commit)

    def event_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the gateways submit from coroutines on (networked), or None (threads)."""
        return self._gateway(BENCH_CLIENT).event_loop()


def _report_commit(pending: PendingTransaction, on_commit: Callable[[str], None]) -> None:
    def done(future: Future[tuple[int, ValidationCode]]) -> None:
        _, code = future.result()
        on_commit(code.name)

    pending.future.add_done_callback(done)


def run_round(driver: Driver, steps: Sequence[Step], *, label: str, rate_tps: float = 0.0, workers: int = SENDERS_DEFAULT,
              progress: Callable[[int], None] | None = None, timeout_s: float = ROUND_TIMEOUT_S) -> RoundReport:
    """Send `steps` open-loop at `rate_tps` (0 = as fast as `workers` senders can endorse and
    order) and time each transaction from send to its commit event."""
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    all_done = threading.Event()
    remaining = len(steps)
    start = time.perf_counter()
    last_done = start

    def finished(sent_at: float, code: str) -> None:
        nonlocal last_done, remaining
        now = time.perf_counter()
        with lock:
            codes[code] += 1
            if code == "VALID":
                latencies.append((now - sent_at) * 1000)
            last_done = max(last_done, now)
            remaining -= 1
            if remaining == 0:
                all_done.set()
        if progress:
            progress(1)

    def one(index: int) -> None:
        if rate_tps > 0:
            delay = start + index / rate_tps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sent_at = time.perf_counter()
        driver.submit(steps[index], lambda code: finished(sent_at, code))

    async def one_aio(index: int, senders: asyncio.Semaphore) -> None:
        async with senders:  # at most `workers` being endorsed and ordered, as with threads
            if rate_tps > 0:
                delay = start + index / rate_tps - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at = time.perf_counter()
            await driver.submit_aio(steps[index], lambda code: finished(sent_at, code))

    async def send_all() -> None:
        senders = asyncio.Semaphore(workers)
        await asyncio.gather(*(one_aio(index, senders) for index in range(len(steps))))

    if not steps:
        all_done.set()
    loop = driver.event_loop() if steps else None
    if loop is not None:  # networked: every sender a task on the gateways' NATS loop
        asyncio.run_coroutine_threadsafe(send_all(), loop).result()
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench") as pool:
            list(pool.map(one, range(len(steps))))
    if not all_done.wait(timeout_s):
        with lock:
            codes["COMMIT_TIMEOUT"] += remaining
    duration = max(last_done - start, 1e-9)
    succ = codes.pop("VALID", 0)
    ordered = sorted(latencies)
    return RoundReport(
        label=label,
        sent=len(steps),
        succ=succ,
        fail=sum(codes.values()),
        failures=dict(codes.most_common()),
        send_rate_tps=len(steps) / duration if rate_tps <= 0 else min(rate_tps, len(steps) / duration),
        throughput_tps=succ / duration,
        latency_ms=_latency_summary(ordered),
        duration_s=duration,
        latencies=ordered,
    )


def _latency_summary(ordered: list[float]) -> dict[str, float]:
    if not ordered:
        return {"min": 0.0, "avg": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {"min": ordered[0], "avg": statistics.fmean(ordered), "p50": pct(50), "p99": pct(99), "max": ordered[-1]}
