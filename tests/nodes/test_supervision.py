"""`gridledger up --networked` supervises every node as its own OS process: a node that is
killed is restarted (logged, with backoff), `status --json` lists every node, and SIGTERM
stops them all in order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from nodekit import CLI, NodeProcesses, cli_json, http_ok, init_networked, monitor_url, node_dirs, wait_for

from ledger.core.errors import LedgerError
from ledger.node.layout import NetworkLayout
from ledger.node.nodeconf import load_node_config
from ledger.node.noderun import RUNNABLE_KINDS, read_pid
from ledger.node.supervisor import Supervisor, child_env, pid_alive

UP_STOP_S = 90.0
UP_REFUSED_S = 30.0  # process start-up on a loaded machine included; a supervisor that started would wait up to NATS_READY_S


def supervisor_log(path: Path) -> list[dict[str, object]]:
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def test_up_networked_restarts_a_killed_node_and_stops_all_in_order(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        up = subprocess.Popen([*CLI, "up", "--data", str(data), "--networked", "--port", "0"], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GRIDLEDGER_LOG_LEVEL": "INFO"})
    try:
        nats_homes = [layout.node_dir(f"nats{i}.OrdererOrg") for i in range(3)]

        def all_alive() -> bool:
            code, out = cli_json("status", "--data", str(data), "--json")
            return code == 0 and all(n["alive"] for n in out["nodes"] if n["kind"] in RUNNABLE_KINDS)

        wait_for(all_alive, what="every node alive")
        code, out = cli_json("status", "--data", str(data), "--json")
        names = {n["name"]: n for n in out["nodes"]}
        assert set(names) >= {"nats0.OrdererOrg", "orderer2.OrdererOrg", "peer1.Org2", "console.Org1"}
        assert {n["kind"] for n in out["nodes"]} == {"nats", "orderer", "peer", "console"}
        for node in out["nodes"]:
            assert set(node) == {"name", "kind", "pid", "address", "alive", "height", "commit_hash"}
        assert names["nats1.OrdererOrg"]["address"].startswith("nats://127.0.0.1:")
        # the three servers share this machine's cores (nats-server runs under the node's pid)
        environ = Path(f"/proc/{read_pid(nats_homes[0])}/environ").read_bytes().split(b"\0")
        expected = os.environ.get("GOMAXPROCS", str(max(1, (os.cpu_count() or 1) // 3)))
        assert f"GOMAXPROCS={expected}".encode() in environ

        # SIGKILL one NATS server: the supervisor notices, logs, restarts it with a new pid
        victim = nats_homes[1]
        old_pid = read_pid(victim)
        assert old_pid and pid_alive(old_pid)
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: (read_pid(victim) or old_pid) != old_pid and pid_alive(read_pid(victim)), what="restarted nats1")
        wait_for(all_alive, what="every node alive again")
        events = supervisor_log(log_path)
        exited = [e for e in events if e.get("event") == "node_exited" and e.get("node") == "nats1.OrdererOrg"]
        restarted = [e for e in events if e.get("event") == "node_restarted" and e.get("node") == "nats1.OrdererOrg"]
        assert exited and exited[0]["exit_code"] == -signal.SIGKILL and float(str(exited[0]["restart_in_s"])) > 0
        assert restarted and restarted[0]["restarts"] == 1

        # a hung peer (SIGSTOP): its process runs, so no restart, but it is not alive; it said
        # alive: true with height null for as long as it hung
        hung = layout.node_dir("peer1.Org2")
        hung_pid = read_pid(hung)
        assert hung_pid is not None
        os.kill(hung_pid, signal.SIGSTOP)
        try:
            def listed_hung() -> bool:
                code, out = cli_json("status", "--data", str(data), "--json")
                row = next(n for n in out["nodes"] if n["name"] == "peer1.Org2")
                return code == 0 and row["alive"] is False and row["pid"] == hung_pid and out["in_sync"] is False

            wait_for(listed_hung, what="the hung peer listed not alive, with its pid")
        finally:
            os.kill(hung_pid, signal.SIGCONT)
        wait_for(all_alive, what="every node alive once the peer runs on")

        pids = {home: read_pid(home) for home in nats_homes}
        up.send_signal(signal.SIGTERM)
        assert up.wait(UP_STOP_S) == 0
        for home, pid in pids.items():
            assert not pid_alive(pid), f"{home.name} still runs after the supervisor stopped"
        stopped = [e["node"] for e in supervisor_log(log_path) if e.get("event") == "node_stopped"]
        kinds_in_stop_order = [n.split(".")[0].rstrip("0123456789") for n in stopped]
        assert kinds_in_stop_order == sorted(kinds_in_stop_order, key=["console", "peer", "orderer", "nats"].index)
        assert len(stopped) == sum(1 for n in names.values() if n["kind"] in RUNNABLE_KINDS)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        kill_leftovers(data)


def kill_leftovers(data: Path) -> None:
    """Nodes a failed test's supervisor left behind (they run in their own sessions)."""
    for home in node_dirs(data):
        pid = read_pid(home)
        if pid_alive(pid):
            assert pid is not None
            os.kill(pid, signal.SIGKILL)


def test_a_running_node_is_not_started_twice_and_up_refuses_a_running_directory(tmp_path: Path, nodes: NodeProcesses) -> None:
    """Before, a second `node run` of a running node's directory (or a second `up --networked`)
    started anyway: it overwrote the node's pid file (status then lost the running node, and
    the copy's clean stop deleted it), a second nats-server opened the same JetStream store,
    and a second supervisor restarted the refused copies forever."""
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    home = layout.node_dir("nats0.OrdererOrg")
    proc = nodes.start(home)
    wait_for(lambda: read_pid(home) == proc.pid and http_ok(monitor_url(load_node_config(home)) + "/varz"), what="nats0 serving (alone: no JetStream quorum, so /varz)")

    code, out = cli_json("node", "run", "--home", str(home))
    assert code == 1 and out["code"] == "NETWORK_BUSY" and str(proc.pid) in out["message"], out
    assert read_pid(home) == proc.pid and proc.poll() is None  # the running server untouched

    started = time.monotonic()
    code, out = cli_json("up", "--data", str(data), "--networked", "--port", "0")
    assert code == 1 and out["code"] == "NETWORK_BUSY" and "nats0.OrdererOrg" in out["message"], out
    assert time.monotonic() - started < UP_REFUSED_S  # refused up front, nothing started
    assert read_pid(home) == proc.pid and proc.poll() is None
    assert all(read_pid(h) is None for h in node_dirs(data) if h != home)

    # Another supervisor of the same directory (a second `up`, a bench's own) is refused too.
    first = Supervisor(data, CLI, kinds=("orderer",))
    try:
        with pytest.raises(LedgerError) as refused:
            Supervisor(data, CLI, kinds=("orderer",))
        assert refused.value.code == "NETWORK_BUSY"
    finally:
        first.stop()
    Supervisor(data, CLI, kinds=("orderer",)).stop()  # released by stop()


def test_the_nats_servers_of_one_machine_share_its_cores_unless_the_operator_says() -> None:
    assert child_env("nats", 3, {"PATH": "/bin"}, cores=2) == {"PATH": "/bin", "GOMAXPROCS": "1"}
    assert child_env("nats", 3, {}, cores=8)["GOMAXPROCS"] == "2"
    assert child_env("nats", 1, {}, cores=8)["GOMAXPROCS"] == "8"
    assert child_env("nats", 3, {"GOMAXPROCS": "4"}, cores=2)["GOMAXPROCS"] == "4"
    assert "GOMAXPROCS" not in child_env("peer", 3, {}, cores=2)
