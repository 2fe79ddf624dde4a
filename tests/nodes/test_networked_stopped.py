"""A networked consortium that is not running is reported, not waited for.

Before this, `status` of a stopped consortium hung for more than a minute inside the NATS
connect (nats-py kept trying the server list), and `query` left a pending task behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from nodekit import init_networked

from ledger.node.netstatus import CONNECT_TOTAL_S

GRIDLEDGER = [str(Path(sys.executable).with_name("gridledger"))]
ANSWER_WITHIN_S = CONNECT_TOTAL_S + 20  # process start-up on a loaded machine included


def run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([*GRIDLEDGER, *args], capture_output=True, text=True, timeout=ANSWER_WITHIN_S * 3)
    return done, time.monotonic() - started


def test_status_of_a_stopped_consortium_lists_every_node_as_not_alive(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    done, took = run("status", "--data", str(data), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert took < ANSWER_WITHIN_S
    kinds = {n["kind"] for n in report["nodes"]}
    assert kinds == {"nats", "orderer", "peer", "console"}
    assert all(n["alive"] is False and n["pid"] is None for n in report["nodes"])
    assert report["in_sync"] is False


def test_query_of_a_stopped_consortium_is_nats_unavailable(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    done, took = run("query", "--data", str(data), "queryUser", "A")
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == "NATS_UNAVAILABLE"
    assert "Traceback" not in done.stderr and "was destroyed but it is pending" not in done.stderr
    assert took < ANSWER_WITHIN_S
