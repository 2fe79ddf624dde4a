"""`gridledger bench --networked` end to end: it starts the NATS, orderer and peer nodes
itself, runs the workload's setup and a measured round over real NATS, reports CPU per
transaction for every node process by name (read from the pid in its directory) and says
the peers ended in sync, then stops the nodes."""

from __future__ import annotations

from pathlib import Path

from nodekit import cli_json, init_networked, node_dirs

from ledger.node.noderun import read_pid
from ledger.node.supervisor import pid_alive
from ledger.tools.bench import NETWORKED_SENDERS_DEFAULT

BENCH_TIMEOUT_S = 900.0  # setup alone is ~3,000 transactions; this machine is shared
ROUND_TX = 200


def test_networked_bench_measures_every_node_and_ends_in_sync(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    code, report = cli_json("bench", "--data", str(data), "--networked", "--tx", str(ROUND_TX), "--rates", "0", "--json", timeout=BENCH_TIMEOUT_S)
    assert code == 0, report
    (only,) = report["rounds"]
    assert only["sent"] == ROUND_TX
    assert only["succ"] > ROUND_TX // 2, only["failures"]  # the rest are the mix's real conflicts
    assert set(only["failures"]) <= {"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT", "ENDORSEMENT_MISMATCH"}, only["failures"]
    assert report["in_sync"] is True
    assert report["network"]["senders"] == NETWORKED_SENDERS_DEFAULT
    per_role = only["cpu_ms_per_tx"]
    nodes = {home.name for home in node_dirs(data) if not home.name.startswith("console")}
    assert set(per_role) == {"gateway", *nodes}, per_role
    assert len([n for n in nodes if n.startswith("peer")]) == 4 and len([n for n in nodes if n.startswith("nats")]) == 3
    assert all(per_role[name] > 0 for name in nodes if name.startswith(("peer", "nats"))), per_role  # each stored or committed every block
    assert all(not pid_alive(read_pid(home)) for home in node_dirs(data))  # the bench stopped what it started
