"""A networked consortium that is not running is reported, not waited for.

Before this, `status` of a stopped consortium hung for more than a minute inside the NATS
connect (nats-py kept trying the server list), and `query` left a pending task behind.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from nodekit import NodeProcesses, http_ok, init_networked, monitor_url, node_homes, wait_for

from ledger.node.layout import NetworkLayout
from ledger.node.netstatus import CONNECT_TOTAL_S
from ledger.node.nodeconf import load_node_config
from ledger.transport.nats_client import CONNECT_WAIT_S

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
    assert took < CONNECT_TOTAL_S, took  # no server listens: no connect is tried (it took the whole CONNECT_TOTAL_S)
    kinds = {n["kind"] for n in report["nodes"]}
    assert kinds == {"nats", "orderer", "peer", "console"}
    assert all(n["alive"] is False and n["pid"] is None for n in report["nodes"])
    assert report["in_sync"] is False


def test_query_of_a_stopped_consortium_is_nats_unavailable(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    done, took = run("query", "--data", str(data), "queryUser", "A")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["code"] == "NATS_UNAVAILABLE" and "is the consortium running?" in out["message"], out
    assert "Traceback" not in done.stderr and "was destroyed but it is pending" not in done.stderr
    # nothing listens on any server's port: said at once (it waited CONNECT_WAIT_S, 15 s, and said "TimeoutError()")
    assert took < CONNECT_WAIT_S, took


def test_up_of_the_wrong_kind_of_directory_says_which_up_it_needs(tmp_path: Path) -> None:
    """Before: `up --networked` of an embedded directory said NO_NETWORK and told to run
    `init --networked` on it; `up` without --networked of a networked one waited for NATS and
    said NATS_UNAVAILABLE."""
    from ledger.node.init import init_network
    from ledger.node.spec import default_config_path

    embedded = tmp_path / "embedded"
    init_network(default_config_path(), embedded, admin_password="pw-embedded-1")
    done, _ = run("up", "--data", str(embedded), "--networked", "--port", "0")
    out = json.loads(done.stdout)
    assert done.returncode == 1 and out["code"] == "NOT_NETWORKED" and "no --networked" in out["message"], done.stdout
    networked = init_networked(tmp_path)
    done, took = run("up", "--data", str(networked), "--port", "0")
    out = json.loads(done.stdout)
    assert done.returncode == 1 and out["code"] == "NOT_EMBEDDED" and "--networked" in out["message"], done.stdout
    assert took < ANSWER_WITHIN_S and "Traceback" not in done.stderr
    assert not (networked / "console" / "console.sqlite").exists()  # nothing started, nothing written


def test_status_counts_a_nats_server_run_from_a_copied_directory_alive(tmp_path: Path, nodes: NodeProcesses) -> None:
    """A deployment across machines copies a node's directory to its machine: the data
    directory here has no pid file for it. Orderers and peers were counted alive by their
    heartbeats, NATS servers never (status said every server dead while the consortium ran)."""
    data = init_networked(tmp_path)
    elsewhere = tmp_path / "other-machine"
    for home in node_homes(data, "nats"):
        copy = elsewhere / home.name
        shutil.copytree(home, copy)
        nodes.start(copy)
    for home in node_homes(data, "nats"):
        wait_for(lambda h=home: http_ok(monitor_url(load_node_config(h)) + "/healthz"), what=f"{home.name} healthy")
    done, _ = run("status", "--data", str(data), "--json")
    servers = [n for n in json.loads(done.stdout)["nodes"] if n["kind"] == "nats"]
    assert len(servers) == 3 and all(n["alive"] is True and n["pid"] is None for n in servers), servers


NODE_STOP_S = 10.0


def test_a_node_started_before_nats_stops_on_sigterm(tmp_path: Path, nodes: NodeProcesses) -> None:
    """A peer or orderer whose NATS servers do not answer yet keeps trying to connect; before,
    it never looked at SIGTERM meanwhile and ran on until SIGKILL."""
    data = init_networked(tmp_path)
    homes = [NetworkLayout(data).node_dir(name) for name in ("peer0.Org1", "orderer0.OrdererOrg")]
    procs = [nodes.start(home) for home in homes]
    for home in homes:  # trying to connect (its signal handlers are in place by then)
        wait_for(lambda h=home: "nats_error" in (h / "test-run.log").read_text(), what=f"{home.name} trying to reach NATS")
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for home, proc in zip(homes, procs):
        try:
            code = proc.wait(NODE_STOP_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{home.name} still runs {NODE_STOP_S} s after SIGTERM") from None
        assert code == 0, (home / "test-run.log").read_text()[-2000:]
        assert "Traceback" not in (home / "test-run.log").read_text()


def sigterm_handled(pid: int) -> bool:
    """Whether the process catches SIGTERM (its handler is installed): SigCgt of /proc."""
    caught = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def test_a_console_node_waiting_for_nats_stops_on_sigterm(tmp_path: Path, nodes: NodeProcesses) -> None:
    """Before, the console node installed its stop handler only once its network was open, so
    a SIGTERM while it waited for the NATS servers killed it with Python's default: exit -15
    and node.pid left behind (the supervisor logged exit_code -15)."""
    data = init_networked(tmp_path)
    home = NetworkLayout(data).node_dir("console.Org1")
    proc = nodes.start(home)
    wait_for(lambda: (home / "node.pid").exists() and sigterm_handled(proc.pid), what="the console node's SIGTERM handler in place")
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(NODE_STOP_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"console.Org1 still runs {NODE_STOP_S} s after SIGTERM") from None
    log = (home / "test-run.log").read_text()
    assert code == 0 and "Traceback" not in log, log[-2000:]
    assert not (home / "node.pid").exists()


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def test_a_directory_that_lost_its_genesis_block_is_genesis_missing_with_the_copy_to_restore(tmp_path: Path) -> None:
    """Before, `up` of such a directory tried to init it again and said INIT_FAILED ("an
    organization already exists"), and `verify`/`query` told the operator to run `init`,
    which refuses the directory."""
    from ledger.node.init import init_network
    from ledger.node.spec import default_config_path

    networked = init_networked(tmp_path)
    embedded = tmp_path / "embedded"
    init_network(default_config_path(), embedded, admin_password="pw-embedded-1")
    for data, up in ((networked, ["--networked"]), (embedded, [])):
        (data / "genesis.block").unlink()
        before = tree(data)
        for args in (["up", "--data", str(data), *up, "--port", "0"], ["verify", "--data", str(data)], ["query", "--data", str(data), "queryUser", "A"]):
            done, _ = run(*args)
            out = json.loads(done.stdout)
            assert done.returncode == 1 and out["code"] == "GENESIS_MISSING" and "Traceback" not in done.stderr, (args, done.stdout, done.stderr[-800:])
            assert str(data / "genesis.block") in out["message"], out
        assert tree(data) == before  # nothing written
    copy = NetworkLayout(networked).node_dir("nats0.OrdererOrg") / "genesis.block"
    assert f"cp {copy} " in json.loads(run("verify", "--data", str(networked))[0].stdout)["message"]  # the node's own copy names the fix
    done, _ = run("verify", "--data", str(tmp_path / "empty"))
    assert json.loads(done.stdout)["code"] == "NO_NETWORK"  # a directory with nothing of a network is still told to init


def test_up_networked_of_a_damaged_network_file_is_config_invalid_and_starts_nothing(tmp_path: Path) -> None:
    """Before, `up --networked` started every node anyway: the console node failed on the file
    at each restart (backoff for ever), as did every `invoke` and `query`."""
    data = init_networked(tmp_path)
    with (data / "network.yaml").open("a") as out:
        out.write("networked: [\n  : bad\n")
    done, took = run("up", "--data", str(data), "--networked", "--port", "0")
    out = json.loads(done.stdout)
    assert done.returncode == 1 and out["code"] == "CONFIG_INVALID" and "network.yaml" in out["message"], done.stdout
    assert took < ANSWER_WITHIN_S and "Traceback" not in done.stderr
    assert not list((data / "orgs").glob("*/nodes/*/node.pid"))  # no node was started


def test_status_of_a_members_directory_lists_the_other_members_nodes_too(tmp_path: Path) -> None:
    """A member's own DATA (`org create` + `node configure`) holds only its own node
    directories. Before, its `status` listed those alone (and said in_sync for its own peers
    while another member's were down); the others' orderers and peers come from their
    org.json, alive when heard."""
    from ledger.node.netstatus import networked_status

    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    for node in ("peer0.Org2", "peer1.Org2", "orderer2.OrdererOrg"):  # as on another member's machine
        shutil.rmtree(layout.node_dir(node))
    report = networked_status(data, listen_s=0.1)
    rows = {n["name"]: n for n in report["nodes"]}
    assert {"peer0.Org2", "peer1.Org2", "orderer2.OrdererOrg", "peer0.Org1"} <= set(rows)
    assert rows["peer0.Org2"] == {"name": "peer0.Org2", "kind": "peer", "pid": None, "address": None, "alive": False, "height": None, "commit_hash": None}
    assert rows["orderer2.OrdererOrg"]["kind"] == "orderer"
    assert "cli.Org1" not in rows and "console.Org1" in rows  # clients are no nodes; the console is listed once
    assert [n["kind"] for n in report["nodes"]] == sorted((n["kind"] for n in report["nodes"]), key=["nats", "orderer", "peer", "console"].index)
    assert report["in_sync"] is False


def test_a_members_directory_without_nodes_reaches_the_consortium_by_the_network_file(tmp_path: Path) -> None:
    """The approver of a member-built consortium runs no node: its DATA holds network.yaml,
    genesis.block and the organizations' files only (its own with its NATS client key).
    First `status` and `invoke` there said CONFIG_INVALID "node orderer0.OrdererOrg has no
    identity at ..." (taken for an embedded network), then NO_NODES ("run it from the console
    organization's DATA"); they now use the network file's NATS servers. Here the consortium
    is stopped: status lists every node not alive, invoke is NATS_UNAVAILABLE at once."""
    data = init_networked(tmp_path)
    for nodes_dir in (data / "orgs").glob("*/nodes"):
        shutil.rmtree(nodes_dir)
    done, took = run("status", "--data", str(data))
    report = json.loads(done.stdout)
    assert done.returncode == 0 and "Traceback" not in done.stderr and took < CONNECT_TOTAL_S, (done.stdout, took)
    kinds = [n["kind"] for n in report["nodes"]]
    assert kinds.count("nats") == 3 and kinds.count("orderer") == 3 and kinds.count("peer") == 4, report
    assert not any(n["alive"] for n in report["nodes"]) and report["in_sync"] is False
    done, took = run("invoke", "--data", str(data), "--as", "Regulator/admin", "userRegister", "R", "R")
    out = json.loads(done.stdout)
    assert done.returncode == 1 and out["code"] == "NATS_UNAVAILABLE" and "Traceback" not in done.stderr, done.stdout
    assert took < CONNECT_WAIT_S and "nats://127.0.0.1:" in out["message"]


def test_an_embedded_directory_without_nodes_is_no_nodes(tmp_path: Path) -> None:
    """An embedded network's organizations have no NATS keys: without its node directories
    it is still NO_NODES (not a missing orderer identity)."""
    data = tmp_path / "net"
    init_done = subprocess.run([*GRIDLEDGER, "init", "--data", str(data), "--admin-password", "console-admin-pw"], capture_output=True, text=True, timeout=120)
    assert init_done.returncode == 0, init_done.stdout
    for nodes_dir in (data / "orgs").glob("*/nodes"):
        shutil.rmtree(nodes_dir)
    done, _ = run("invoke", "--data", str(data), "--as", "Regulator/admin", "userRegister", "R", "R")
    out = json.loads(done.stdout)
    assert done.returncode == 1 and out["code"] == "NO_NODES" and "Traceback" not in done.stderr, done.stdout
