"""A port a node listens on that is already taken is PORT_IN_USE before anything starts.

Before, `up --networked` with another process on nats0's client port started every node;
nats0 exited 1 right away and was restarted with backoff for ever (the supervisor logged
only `exit_code: 1`; the reason was in nats0's node.log), and the consortium never formed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
from nodekit import HOST, cli_json, init_networked, node_dirs

from ledger.core.errors import LedgerError
from ledger.node.layout import NetworkLayout
from ledger.node.nodeconf import load_node_config
from ledger.node.noderun import read_pid
from ledger.node.ports import Listen, check_ports_free, node_listens, port_taken
from ledger.node.supervisor import Supervisor

TEST_NET = "192.0.2.1"  # TEST-NET-1 (RFC 5737): an address no machine of ours has


@contextmanager
def listening(port: int) -> Iterator[None]:
    with socket.socket() as taken:
        taken.bind((HOST, port))
        taken.listen()
        yield


def nats_client_port(data: Path) -> int:
    home = NetworkLayout(data).node_dir("nats0.OrdererOrg")
    server = msgspec.json.decode((home / "nats-server.json").read_bytes())
    return int(server["port"])


def test_up_networked_names_the_taken_port_and_starts_nothing(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    port = nats_client_port(data)
    with listening(port):
        code, out = cli_json("up", "--data", str(data), "--networked", "--port", "0")
    assert code == 1 and out["code"] == "PORT_IN_USE", out
    assert f"{HOST}:{port}" in out["message"] and "nats0.OrdererOrg's client port" in out["message"], out
    assert all(read_pid(home) is None for home in node_dirs(data))  # no node was started
    Supervisor(data, ["true"]).stop()  # and the refused `up` left the directory unlocked


def test_up_networked_console_port_on_a_node_port_is_port_in_use(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    cluster_port = nats_client_port(data) + 1  # the cluster port follows the client port
    code, out = cli_json("up", "--data", str(data), "--networked", "--port", str(cluster_port))
    assert code == 1 and out["code"] == "PORT_IN_USE", out
    assert "nats0.OrdererOrg's cluster port" in out["message"] and "console.Org1's console port" in out["message"], out


def test_node_run_of_a_peer_whose_health_port_is_taken_is_port_in_use(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    home = NetworkLayout(data).node_dir("peer0.Org1")
    port = load_node_config(home).health_port
    with listening(port):
        code, out = cli_json("node", "run", "--home", str(home))
    assert code == 1 and out["code"] == "PORT_IN_USE" and f"{HOST}:{port} (peer0.Org1's health port)" in out["message"], out
    assert read_pid(home) is None


def test_every_listening_address_of_a_nats_node_is_checked(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    home = NetworkLayout(data).node_dir("nats1.OrdererOrg")
    listens = node_listens(home, load_node_config(home))
    assert [listen.what for listen in listens] == ["client port", "cluster port", "monitoring port"]
    assert len({listen.port for listen in listens}) == 3
    check_ports_free(listens)  # free: no error


def test_an_address_this_machine_lacks_is_not_a_taken_port() -> None:
    """A node laid out for another machine fails on its own when it binds; the check must
    not call that port busy."""
    assert port_taken(TEST_NET, 24999) is False
    with socket.socket() as free:
        free.bind((HOST, 0))
        port = free.getsockname()[1]
    assert port_taken(HOST, port) is False
    with listening(port):
        assert port_taken(HOST, port) is True
        with pytest.raises(LedgerError) as refused:
            check_ports_free([Listen("peer9.OrgX", "health port", HOST, port)])
    assert refused.value.code == "PORT_IN_USE"
