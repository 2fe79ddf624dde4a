"""`gridledger bench` on an open network: setup phases, measured rounds, table, JSON, charts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ledger.node.network import Network
from ledger.tools.bench import Driver, RoundReport, load_workload, run_round


def run_benchmark(net: Network, transactions: int, rates: list[float], workers: int, *, quiet: bool, report_dir: Path | None) -> dict[str, Any]:
    spec = next(cc for cc in net.spec.chaincodes if cc.name == net.chaincode_name)
    if not spec.workload:
        raise SystemExit(f"chaincode {spec.name} names no benchmark workload in the network file")
    run_id = os.urandom(3).hex()
    workload = load_workload(spec.workload, run_id=run_id)
    org = net.console_org
    driver = Driver(net.gateway, lambda name: net.client_identity(org, name), net.service_identity(net.approver_org))
    console = Console(stderr=True, quiet=quiet)
    with Progress(console=console, transient=True, disable=quiet) as progress:
        for number, phase in enumerate(workload.setup_phases(), 1):
            task = progress.add_task(f"setup phase {number}", total=len(phase))
            setup = run_round(driver, phase, label=f"setup-{number}", workers=workers, progress=_advance(progress, task))
            if setup.fail:
                raise SystemExit(f"setup phase {number} failed: {setup.failures}")
        rounds: list[RoundReport] = []
        for rate in rates:
            steps = workload.round(transactions)
            label = f"mixed@{int(rate)}tps" if rate > 0 else "mixed@max"
            task = progress.add_task(f"round {label}", total=len(steps))
            rounds.append(run_round(driver, steps, label=label, rate_tps=rate, workers=workers, progress=_advance(progress, task)))
    net.wait_for_height(net.orderer.height, timeout_s=60)  # every peer has applied every block
    first = rounds[0]
    report = {
        **first.as_dict(),
        "rounds": [r.as_dict() for r in rounds],
        "network": {"peers": len(net.peers), "peer_processes": net.peer_processes, "senders": workers, "endorsement": spec.endorsement_policy, "batch": {
            "max_message_count": net.config.batch.max_message_count, "batch_timeout_ms": net.config.batch.batch_timeout_ms}},
        "in_sync": len({(p.height, p.commit_hash) for p in net.status()}) == 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    console.print(_table(rounds))
    if report_dir is not None:
        write_report(report_dir, report, rounds)
    return report


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda n: progress.advance(task, n)


def _table(rounds: list[RoundReport]) -> Table:
    table = Table(title="GridLedger benchmark (committed transactions)")
    for column in ("round", "succ", "fail", "send tps", "throughput tps", "min ms", "avg ms", "p50 ms", "p99 ms", "max ms", "failures"):
        table.add_column(column)
    for r in rounds:
        lat = r.latency_ms
        table.add_row(r.label, str(r.succ), str(r.fail), f"{r.send_rate_tps:.0f}", f"{r.throughput_tps:.0f}",
                      *(f"{lat[k]:.0f}" for k in ("min", "avg", "p50", "p99", "max")), json.dumps(r.failures))
    return table


def write_report(report_dir: Path, report: dict[str, Any], rounds: list[RoundReport]) -> None:
    """report.json plus one SVG per chart (throughput per round, latency distribution)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2))
    (report_dir / "throughput.svg").write_text(bar_chart_svg([(r.label, r.throughput_tps) for r in rounds], "committed tx/s"))
    if rounds and rounds[0].latencies:
        latencies = rounds[0].latencies
        buckets = [latencies[min(len(latencies) - 1, int(q / 20 * len(latencies)))] for q in range(1, 21)]
        (report_dir / "latency.svg").write_text(bar_chart_svg([(f"p{q * 5}", v) for q, v in enumerate(buckets, 1)], "latency ms by percentile"))


def bar_chart_svg(bars: list[tuple[str, float]], title: str, width: int = 640, height: int = 280) -> str:
    """A dependency-free SVG bar chart (the console shows it as is)."""
    top = max((v for _, v in bars), default=1.0) or 1.0
    slot = (width - 60) / max(len(bars), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{title}">',
             f'<text x="10" y="18" font-family="sans-serif" font-size="14">{title} (max {top:.0f})</text>']
    for i, (label, value) in enumerate(bars):
        bar_h = (height - 70) * value / top
        x = 50 + i * slot
        parts.append(f'<rect x="{x:.1f}" y="{height - 40 - bar_h:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="#2f6fab"><title>{label}: {value:.1f}</title></rect>')
        parts.append(f'<text x="{x:.1f}" y="{height - 24}" font-family="sans-serif" font-size="10">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
