"""Page: /bench, the latest `gridledger bench --report` of this network (table and charts),
or how to run one. The report is a file the bench leaves in the data directory; the console
only reads it."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, get
from litestar.response import Template

from ledger.node.layout import NetworkLayout
from ledger.tools.benchrun import REPORT_COLUMNS, report_rows
from ledger.tools.machine import describe
from webapp.charts import bars
from webapp.deps import requires_login
from webapp.pages import page
from webapp.services import Services

BENCH_REPORT_BYTES_MAX = 4 * 1024 * 1024


def load_report(services: Services) -> tuple[dict[str, Any] | None, str]:
    """(report, "") or (None, why there is none to show)."""
    path = NetworkLayout(services.data_dir).bench_dir / "report.json"
    if not path.exists():
        return None, ""
    try:
        if path.stat().st_size > BENCH_REPORT_BYTES_MAX:
            return None, f"{path} is larger than {BENCH_REPORT_BYTES_MAX} bytes"
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be read: {exc}"
    return (report, "") if isinstance(report, dict) else (None, f"{path} is not a report")


@get("/bench", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def bench_page(request: Request[Any, Any, Any], services: Services) -> Template:
    report, problem = load_report(services)
    context: dict[str, Any] = {"report": report, "problem": problem, "data_dir": str(services.data_dir)}
    if report is not None:
        rounds = report.get("rounds") or [report]
        labels = [str(r.get("label", "")) for r in rounds]
        context.update(
            columns=REPORT_COLUMNS,
            rows=report_rows(report),
            machine=describe(report.get("machine")),
            chart_throughput=bars("Committed transactions per second by round", labels, [float(r.get("throughput_tps", 0)) for r in rounds], "chart-throughput", " tx/s", "throughput"),
            chart_latency=bars("p99 latency (ms) by round", labels, [float((r.get("latency_ms") or {}).get("p99", 0)) for r in rounds], "chart-latency", " ms", "p99"),
        )
    return page(request, "bench.html", **context)


ROUTES = [bench_page]
