"""/bench: the latest `gridledger bench --report` of this network, or how to run one; and the
self-contained report.html the bench writes beside report.json."""

from __future__ import annotations

import shutil

from ledger.node.layout import NetworkLayout
from ledger.tools.bench import RoundReport
from ledger.tools.benchrun import write_report
from tests.webapp.test_pages_security import new_http, page_login


def rounds() -> list[RoundReport]:
    latency = {"min": 4.0, "avg": 9.5, "p50": 8.0, "p99": 31.0, "max": 40.0}
    return [
        RoundReport("mixed@300tps", 600, 598, 2, {"MVCC_READ_CONFLICT": 2}, 300.0, 297.4, latency, 2.0, [4.0, 8.0, 8.5, 31.0, 40.0]),
        RoundReport("mixed@max", 600, 600, 0, {}, 612.0, 540.2, {**latency, "p99": 77.0}, 1.1, [5.0, 9.0, 77.0]),
    ]


def report_of(rs: list[RoundReport]) -> dict:
    return {**rs[0].as_dict(), "rounds": [r.as_dict() for r in rs], "network": {"peers": 4, "peer_processes": True, "senders": 16},
            "in_sync": True, "when": "2026-12-02T18:00:00Z"}


def test_report_html_is_self_contained(tmp_path):
    rs = rounds()
    write_report(tmp_path, report_of(rs), rs)
    page = (tmp_path / "report.html").read_text()
    assert {"report.json", "report.html", "throughput.svg", "latency.svg"} <= {p.name for p in tmp_path.iterdir()}
    assert page.count("<svg") == 2 and "mixed@300tps" in page and "MVCC_READ_CONFLICT: 2" in page and "<td>297</td>" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page and "<link" not in page  # nothing to fetch or run


def test_bench_page_shows_the_latest_report_or_how_to_run_one(api, client, network_dir):
    bench_dir = NetworkLayout(network_dir).bench_dir
    shutil.rmtree(bench_dir, ignore_errors=True)
    user_id, _ = api.register()
    http = new_http(client)
    page_login(http, user_id)
    empty = http.get("/bench")
    assert empty.status_code == 200 and 'id="bench-empty"' in empty.text and f"gridledger bench --data {network_dir}" in empty.text
    try:
        rs = rounds()
        write_report(bench_dir, report_of(rs), rs)
        shown = http.get("/bench").text
        table = shown[shown.index('id="rounds"') : shown.index("</table>", shown.index('id="rounds"'))]
        assert table.count("<tr>") == 3 and "mixed@max" in table and "<td>540</td>" in table and "<td>77</td>" in table
        assert 'id="chart-throughput"' in shown and 'id="chart-latency"' in shown and shown.count('data-series="throughput"') == 2
        (bench_dir / "report.json").write_text("{not json")
        broken = http.get("/bench")
        assert broken.status_code == 200 and 'id="bench-empty"' in broken.text and "cannot be read" in broken.text
    finally:
        shutil.rmtree(bench_dir, ignore_errors=True)


def test_a_real_bench_run_is_shown_on_the_page(api, client, network, network_dir, tmp_path):
    """A tiny real `bench --report` run on this network (setup, one measured round through the
    gateway), then /bench shows its figures: the round, its successes and throughput, its time."""
    from ledger.tools.benchrun import report_rows, run_benchmark

    bench_dir = NetworkLayout(network_dir).bench_dir
    shutil.rmtree(bench_dir, ignore_errors=True)
    try:
        report = run_benchmark(network, 12, [0], 2, quiet=True, report_dir=tmp_path / "report")
        assert (bench_dir / "report.json").exists() and (tmp_path / "report" / "report.html").exists()
        assert report["sent"] == 12 and report["succ"] + report["fail"] == 12 and report["succ"] > 0
        user_id, _ = api.register()
        http = new_http(client)
        page_login(http, user_id)
        shown = http.get("/bench")
        assert shown.status_code == 200 and 'id="bench-empty"' not in shown.text
        assert f"{report['when']}" in shown.text and "peers 4" in shown.text
        table = shown.text[shown.text.index('id="rounds"') : shown.text.index("</table>", shown.text.index('id="rounds"'))]
        (row,) = report_rows(report)
        assert table.count("<tr>") == 2 and "mixed@max" in table
        assert row[1] == "12" and row[2] == str(report["succ"]) and row[5] == f"{report['throughput_tps']:.0f}"
        assert "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" in table  # the run's own figures, as the CLI prints them
        assert 'id="chart-throughput"' in shown.text and shown.text.count('data-series="throughput"') == 1
        machine = report["machine"]  # the machine the run measured, on the page and in report.html
        assert f"Ed25519 verify {machine['ed25519_verify_us']} µs" in shown.text and 'id="bench-machine"' in shown.text
        assert f"Ed25519 verify {machine['ed25519_verify_us']} µs" in (tmp_path / "report" / "report.html").read_text()
    finally:
        shutil.rmtree(bench_dir, ignore_errors=True)
