"""`gridledger bench --networked` for real, tiny: on a networked directory it starts the NATS,
orderer and peer nodes for the run, runs the workload's setup and one measured round over
NATS, prints the same JSON report as the embedded bench (VALID transactions counted as
`succ`) with CPU per transaction for every node process by name (read from the pid in its
directory), and stops every node it started."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nodekit import cli_json, init_networked, node_dirs

from ledger.node.layout import NodeLayout
from ledger.node.nodeconf import load_node_config

TX = 12
BENCH_TIMEOUT_S = 420.0  # setup (200 users, 100 assets) and the round on a loaded 2-core machine
REPORT_KEYS = {"label", "sent", "succ", "fail", "failures", "send_rate_tps", "throughput_tps", "latency_ms", "duration_s", "cpu_ms_per_tx", "rounds", "network", "in_sync", "when", "machine"}
ROUND_KEYS = REPORT_KEYS - {"rounds", "network", "in_sync", "when", "machine"}


def test_bench_networked_runs_a_tiny_round_and_reports_valid_transactions(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    code, report = cli_json("bench", "--data", str(data), "--networked", "--tx", str(TX), "--rates", "0", "--senders", "4", "--json", timeout=BENCH_TIMEOUT_S)
    assert code == 0, report
    assert set(report) == REPORT_KEYS, set(report) ^ REPORT_KEYS
    assert len(report["rounds"]) == 1 and set(report["rounds"][0]) == ROUND_KEYS
    assert report["sent"] == TX and report["succ"] > 0, report
    assert report["succ"] + report["fail"] == report["sent"]
    assert report["network"]["peers"] == 4 and report["in_sync"] is True
    assert report["network"]["peer_processes"] is True  # each peer node is its own process (said false)
    assert set(report["latency_ms"]) == {"min", "avg", "p50", "p99", "max"}, report["latency_ms"]
    assert report["throughput_tps"] > 0
    machine = report["machine"]  # what the figures were measured on
    assert machine["cores"] >= 1 and machine["cpu"] and 0 < machine["ed25519_verify_us"] < 10_000 and 0 < machine["ed25519_sign_us"] < 10_000
    per_role = report["cpu_ms_per_tx"]
    nodes = {home.name for home in node_dirs(data) if load_node_config(home).kind in ("nats", "orderer", "peer")}
    assert len(nodes) == 10 and set(per_role) == {"gateway", *nodes}, per_role
    assert all(per_role[name] >= 0 for name in nodes), per_role
    # the nodes it started for the run are stopped again: no node's pid file is left
    left = [home.name for home in node_dirs(data) if NodeLayout(home).pid_file.exists()]
    assert left == [], left
    print(f"bench --networked --tx {TX}: {report['succ']} VALID of {report['sent']}, {report['throughput_tps']} tx/s, p50 {report['latency_ms']['p50']} ms")


def test_a_bench_that_cannot_open_the_network_stops_the_nodes_it_started(tmp_path: Path) -> None:
    """The nodes start, then the bench's own connect fails (here: its client key is gone).
    Before, the refusal exited past the bench's cleanup and left the NATS servers running."""
    data = init_networked(tmp_path)
    (data / "orgs" / "Org1" / "nats-client.nk").unlink()  # the console organization's CLI key
    code, report = cli_json("bench", "--data", str(data), "--networked", "--tx", str(TX), "--rates", "0", "--json", timeout=BENCH_TIMEOUT_S)
    assert code == 1 and report["code"] == "NATS_UNAVAILABLE", report
    homes = [home for home in node_dirs(data) if load_node_config(home).kind in ("nats", "orderer", "peer")]
    left = [home.name for home in homes if NodeLayout(home).pid_file.exists()]
    assert left == [], left
    running = subprocess.run(["pgrep", "-f", str(data)], capture_output=True, text=True).stdout.split()
    assert running == [], f"processes of {data} still run: {running}"
