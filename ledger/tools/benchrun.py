"""`gridledger bench` on an open network: setup phases, measured rounds, table, JSON, charts."""

from __future__ import annotations

import html
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ledger.core.errors import LedgerError
from ledger.node.layout import NetworkLayout
from ledger.node.netnetwork import is_networked
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.node.noderun import read_pid
from ledger.node.supervisor import networked_homes
from ledger.tools import cpu
from ledger.tools.bench import Driver, RoundReport, load_workload, run_round
from ledger.tools.machine import describe, machine_facts

NODE_ROLES = ("nats", "orderer", "peer")  # node kinds whose processes a networked bench reads
SETTLE_TIMEOUT_S = 60.0
SETTLE_POLL_S = 0.05


def settled(net: Network, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    """Whether every peer reaches one height and commit hash, at least the orderer's, in time.

    Networked peers' heights come from events and heartbeats, and the orderer's from its
    heartbeat (sent every second): one look right after the round can see a peer a block
    behind, so wait for agreement instead of judging the first snapshot."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {(p.height, p.commit_hash) for p in net.status()}
        if len(seen) == 1 and next(iter(seen))[0] >= net.orderer.height:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(SETTLE_POLL_S)


def run_benchmark(net: Network, transactions: int, rates: list[float], workers: int, *, quiet: bool, report_dir: Path | None) -> dict[str, Any]:
    spec = next(cc for cc in net.spec.chaincodes if cc.name == net.chaincode_name)
    # LedgerError, not SystemExit(text): main prints it as {code, message} on stdout (the text
    # went to stderr alone, with an empty stdout, against "every error is one JSON document")
    if not spec.workload:
        raise LedgerError("NO_WORKLOAD", f"chaincode {spec.name} names no benchmark workload in the network file")
    machine = machine_facts()  # before setup: the machine as the run found it
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
                raise LedgerError("BENCH_SETUP_FAILED", f"setup phase {number} failed: {setup.failures}")
        rounds: list[RoundReport] = []
        for rate in rates:
            steps = workload.round(transactions)
            label = f"mixed@{int(rate)}tps" if rate > 0 else "mixed@max"
            task = progress.add_task(f"round {label}", total=len(steps))
            driver.prepare(steps)
            sources = cpu_sources(net)
            before = cpu.sample(sources)
            measured = run_round(driver, steps, label=label, rate_tps=rate, workers=workers, progress=_advance(progress, task))
            measured.cpu_ms_per_tx = cpu.per_transaction_ms(before, cpu.sample(sources), sources, measured.succ)
            rounds.append(measured)
    in_sync = settled(net)
    first = rounds[0]
    report = {
        **first.as_dict(),
        "rounds": [r.as_dict() for r in rounds],
        "network": {"peers": len(net.peers), "peer_processes": net.peer_processes or is_networked(net.layout), "senders": workers, "endorsement": spec.endorsement_policy, "batch": {
            "max_message_count": net.config.batch.max_message_count, "batch_timeout_ms": net.config.batch.batch_timeout_ms}},
        "in_sync": in_sync,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
    }
    print_table(_table(rounds, machine), quiet=quiet)
    if report_dir is not None:
        write_report(report_dir, report, rounds)
        write_report(NetworkLayout(net.data_dir).bench_dir, report, rounds)  # the latest of this network, for the console
    return report


REPORT_WIDTH = 240  # columns of the table when stdout is a file or a pipe (rich would wrap it at 80)


def print_table(table: Table, *, quiet: bool) -> None:
    """The people's report (no --json) on stdout, where the README puts it, unabridged.

    Why: it went to stderr with the progress bars, so `gridledger bench ... > run.txt` left the
    file empty, and rich fitted it to 80 columns when stderr was not a terminal: headers
    "rou…", "thr…", CPU figures "gat… 1.2…", the failures "{"…". The progress bars stay on
    stderr (they vanish when done)."""
    if quiet:
        return
    Console(width=None if sys.stdout.isatty() else REPORT_WIDTH).print(table)


def cpu_sources(net: Network) -> dict[str, cpu.Source]:
    """Where each role's CPU time is read: the orderer's loop thread, and each peer's own
    process (peer processes) or commit thread (one process; its endorsements then run on
    the gateway's threads and count there). On the networked topology every NATS server,
    orderer node and peer node is a process of its own, read by the pid in its directory."""
    if is_networked(net.layout):
        return networked_sources(net.layout)
    sources: dict[str, cpu.Source] = {}
    if (tid := getattr(net.orderer, "thread_id", None)) is not None:
        sources["orderer"] = (os.getpid(), tid)
    for peer in net.peers:
        if (pid := getattr(peer, "pid", None)) is not None:
            sources[peer.name] = (pid, None)
        elif (tid := getattr(peer, "thread_id", None)) is not None:
            sources[peer.name] = (os.getpid(), tid)
    return sources


def networked_sources(layout: NetworkLayout) -> dict[str, cpu.Source]:
    """Each running node process of a networked layout (NATS servers, orderers, peers), by name."""
    sources: dict[str, cpu.Source] = {}
    for home in networked_homes(layout):
        config = load_node_config(home)
        pid = read_pid(home)
        if config.kind in NODE_ROLES and pid is not None:
            sources[config.name] = (pid, None)
    return sources


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda n: progress.advance(task, n)


def _table(rounds: list[RoundReport], machine: dict[str, Any] | None = None) -> Table:
    table = Table(title="GridLedger benchmark (committed transactions)", caption=describe(machine) or None)
    columns = ("round", "succ", "fail", "send tps", "throughput tps", "min ms", "avg ms", "p50 ms", "p99 ms", "max ms", "cpu ms/tx", "failures")
    for column in columns:
        table.add_column(column)
    for r in rounds:
        lat = r.latency_ms
        table.add_row(r.label, str(r.succ), str(r.fail), f"{r.send_rate_tps:.0f}", f"{r.throughput_tps:.0f}",
                      *(f"{lat[k]:.0f}" for k in ("min", "avg", "p50", "p99", "max")), _cpu_cell(r.cpu_ms_per_tx), json.dumps(r.failures))
    return table


def _cpu_cell(per_role: dict[str, float]) -> str:
    """'gateway 0.56, orderer 0.08, peer0.Org1 0.64, …' (CPU ms per committed transaction)."""
    return ", ".join(f"{role} {ms:.2f}" for role, ms in per_role.items())


def write_report(report_dir: Path, report: dict[str, Any], rounds: list[RoundReport]) -> None:
    """report.json, one SVG per chart (throughput per round, latency distribution) and
    report.html: the table and both charts in one self-contained file (no script, no link)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    charts = [bar_chart_svg([(r.label, r.throughput_tps) for r in rounds], "committed tx/s")]
    (report_dir / "report.json").write_text(json.dumps(report, indent=2))
    (report_dir / "throughput.svg").write_text(charts[0])
    if rounds and rounds[0].latencies:
        latencies = rounds[0].latencies
        buckets = [latencies[min(len(latencies) - 1, int(q / 20 * len(latencies)))] for q in range(1, 21)]
        charts.append(bar_chart_svg([(f"p{q * 5}", v) for q, v in enumerate(buckets, 1)], "latency ms by percentile"))
        (report_dir / "latency.svg").write_text(charts[1])
    (report_dir / "report.html").write_text(report_html(report, charts))


def bar_chart_svg(bars: list[tuple[str, float]], title: str, width: int = 640, height: int = 280) -> str:
    """A dependency-free SVG bar chart (the console shows it as is)."""
    top = max((v for _, v in bars), default=1.0) or 1.0
    slot = (width - 60) / max(len(bars), 1)
    title = html.escape(title)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{title}">',
             f'<text x="10" y="18" font-family="sans-serif" font-size="14">{title} (max {top:.0f})</text>']
    for i, (raw_label, value) in enumerate(bars):
        label = html.escape(raw_label)
        bar_h = (height - 70) * value / top
        x = 50 + i * slot
        parts.append(f'<rect x="{x:.1f}" y="{height - 40 - bar_h:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="#2f6fab"><title>{label}: {value:.1f}</title></rect>')
        parts.append(f'<text x="{x:.1f}" y="{height - 24}" font-family="sans-serif" font-size="10">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


REPORT_COLUMNS = ("round", "sent", "succ", "fail", "send tps", "throughput tps", "min ms", "avg ms", "p50 ms", "p99 ms", "max ms", "failures")


def report_rows(report: dict[str, Any]) -> list[list[str]]:
    """The Caliper-style table, one row per round, as text (report.html and the console)."""
    rows = []
    for r in report.get("rounds") or [report]:
        lat = r.get("latency_ms") or {}
        rows.append([
            str(r.get("label", "")), str(r.get("sent", "")), str(r.get("succ", "")), str(r.get("fail", "")),
            f"{float(r.get('send_rate_tps', 0)):.0f}", f"{float(r.get('throughput_tps', 0)):.0f}",
            *(f"{float(lat.get(k, 0)):.0f}" for k in ("min", "avg", "p50", "p99", "max")),
            ", ".join(f"{k}: {v}" for k, v in (r.get("failures") or {}).items()) or "none",
        ])
    return rows


def report_html(report: dict[str, Any], charts: list[str]) -> str:
    """A self-contained page: inline style, the table, the SVG charts; nothing to fetch, no script."""
    esc = html.escape
    network = report.get("network") or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in REPORT_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in report_rows(report))
    facts = ", ".join(f"{esc(str(k))}: {esc(json.dumps(v))}" for k, v in network.items())
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>GridLedger benchmark</title>"
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2733}table{border-collapse:collapse}"
        "th,td{border-bottom:1px solid #d9e0e8;padding:.3rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}"
        "svg{max-width:100%;height:auto;display:block;margin:1rem 0}</style></head><body>"
        f"<h1>GridLedger benchmark (committed transactions)</h1><p>{esc(str(report.get('when', '')))} · in sync: "
        f"{esc(str(report.get('in_sync', '')))}</p><p>{facts}</p><p id=\"machine\">{esc(describe(report.get('machine')))}</p>"
        f"<table id=\"rounds\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + "".join(charts)
        + "</body></html>\n"
    )
