"""The whole consortium under `gridledger up --networked` (3 NATS servers, 3 orderer nodes,
4 peers and the console, each its own process), used through the CLI: invoke and query go
through NATS (no NETWORK_BUSY), `status` shows every node in sync, `verify` checks the
blocks stream and every peer's own chain, and the console answers its health check."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from nodekit import CLI, cli_json, free_base_port, init_networked, wait_for
from test_supervision import kill_leftovers, supervisor_log

from ledger.node.noderun import RUNNABLE_KINDS

UP_STOP_S = 90.0
UP_READY_S = 120.0
PEER_COLD_START_S = 3.0  # health endpoint up -> endorsing, for a peer started with its cluster (was up to 5 s)


def log_events(home: Path) -> dict[str, list[dict[str, object]]]:
    """A node's node.log, its JSON lines grouped by event."""
    events: dict[str, list[dict[str, object]]] = {}
    for entry in supervisor_log(home / "node.log"):
        events.setdefault(str(entry.get("event")), []).append(entry)
    return events


def seconds_between(first: dict[str, object], then: dict[str, object]) -> float:
    def at(entry: dict[str, object]) -> datetime.datetime:
        return datetime.datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00"))

    return (at(then) - at(first)).total_seconds()


def console_health(port: int) -> dict[str, object] | None:
    """The console's /healthz document (200 ok, or 503 degraded), None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2.0) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))
    except (OSError, ValueError):
        return None


def test_up_networked_runs_the_consortium_and_the_cli_works_through_nats(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    port = free_base_port(1)
    with open(tmp_path / "up.log", "wb") as log:
        up = subprocess.Popen([*CLI, "up", "--data", str(data), "--networked", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GRIDLEDGER_LOG_LEVEL": "INFO"})
    try:

        def ready() -> bool:
            code, out = cli_json("status", "--data", str(data), "--json")
            alive = code == 0 and all(n["alive"] for n in out["nodes"] if n["kind"] in RUNNABLE_KINDS)
            return alive and bool(out["in_sync"])

        wait_for(ready, UP_READY_S, what="every node alive and the peers in sync")
        # each peer, started with a cluster still electing its JetStream leaders, endorses soon
        peer_homes = sorted(data.glob("orgs/*/nodes/peer*"))
        starts = {home.name: seconds_between(log_events(home)["health_serving"][0], log_events(home)["peer_started"][0]) for home in peer_homes}
        assert len(starts) == 4 and all(s < PEER_COLD_START_S for s in starts.values()), starts
        code, out = cli_json("invoke", "--data", str(data), "--as", "Org1/carol", "userRegister", "Carol", "C")
        assert code == 0 and out["code"] == "VALID", out
        first = out["block"]
        code, out = cli_json("invoke", "--data", str(data), "--as", "Org1/carol", "userTopup", "C", "12")
        assert code == 0 and out["code"] == "VALID" and out["block"] > first, out
        code, out = cli_json("query", "--data", str(data), "queryUser", "C")
        assert code == 0 and out["result"]["Token"] == 12, out

        wait_for(ready, what="peers in sync after the invokes")
        code, out = cli_json("status", "--data", str(data), "--json")
        peers = [n for n in out["nodes"] if n["kind"] == "peer"]
        orderers = [n for n in out["nodes"] if n["kind"] == "orderer"]
        assert len(peers) == 4 and {p["height"] for p in peers} == {first + 2}
        assert len({p["commit_hash"] for p in peers}) == 1 and peers[0]["commit_hash"]
        assert len(orderers) == 3 and all(o["height"] == first + 2 for o in orderers)
        consoles = [n for n in out["nodes"] if n["kind"] == "console"]
        assert [c["address"] for c in consoles] == [f"http://127.0.0.1:{port}"]  # where it listens, not node.json's 8080

        code, out = cli_json("verify", "--data", str(data))
        assert code == 0 and out["ok"] is True, out
        assert {n["node"] for n in out["nodes"]} == {"blocks-stream", *(p["name"] for p in peers)}
        assert all(n["height"] == first + 2 for n in out["nodes"])

        wait_for(lambda: console_health(port) is not None, what="the console's /healthz")
        health = console_health(port)
        assert health is not None and health.get("status") == "ok", health
    finally:
        if up.poll() is None:
            up.terminate()
            try:
                up.wait(UP_STOP_S)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
        kill_leftovers(data)
    # every peer drained its connection on the way out (none waited out the drain timeout)
    for home in sorted(data.glob("orgs/*/nodes/peer*")):
        assert "nats_drain_failed" not in log_events(home) and "DrainTimeoutError" not in (home / "node.log").read_text(errors="replace"), home.name
