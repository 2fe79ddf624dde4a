"""The `gridledger` command line, run as a real process: JSON out, exit codes, status, busy lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from netkit import cli, cli_json, meta, submit, wait_in_sync

from ledger.node.network import Network


@pytest.fixture(scope="module")
def market(pristine_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A network where CLI users Org1/seller and Org2/holder exist: seller publishes P1, holder bought a copy.

    Built in-process (fast) with the same identities the CLI uses (crypto/<org>/users/<name>.json).
    """
    import shutil

    data = tmp_path_factory.mktemp("cli") / "net"
    shutil.copytree(pristine_dir, data)
    with Network.open(data) as net:
        seller, holder, buyer = net.client_identity("Org1", "seller"), net.client_identity("Org2", "holder"), net.client_identity("Org2", "buyer")
        for user, uid in ((seller, "SELL"), (holder, "HOLD"), (buyer, "BUY")):
            submit(net, user, "userRegister", uid.lower(), uid)
        submit(net, holder, "userTopup", "HOLD", 50)
        submit(net, buyer, "userTopup", "BUY", 50)
        submit(net, seller, "assetsEnroll", "P1", "P1", meta("p1"), "SELL", 20)
        submit(net, holder, "assetsExchange", "P1", "SELL", "HOLD")
        wait_in_sync(net)
    return data


def test_invoke_prints_the_committed_result_as_json_and_exits_0(market: Path) -> None:
    code, out = cli_json("invoke", "--data", str(market), "--as", "Org2/buyer", "userTopup", "BUY", "7")
    assert code == 0, out
    assert out["code"] == "VALID" and isinstance(out["block"], int) and len(out["tx_id"]) == 64
    assert out["result"]["Token"] == 57

    code, out = cli_json("query", "--data", str(market), "queryUser", "BUY")
    assert (code, out["result"]["Token"]) == (0, 57)


def test_refusal_prints_code_and_message_and_exits_1(market: Path) -> None:
    code, out = cli_json("invoke", "--data", str(market), "--as", "Org2/buyer", "assetsExchange", "P1", "SELL", "NOBODY")
    assert code == 1
    assert out["code"] == "USER_NOT_FOUND" and "NOBODY" in out["message"]
    code, out = cli_json("query", "--data", str(market), "queryAsset", "NOPE")
    assert (code, out["code"]) == (1, "ASSET_NOT_FOUND")


def test_cosign_enables_a_holder_to_holder_transfer(market: Path) -> None:
    args = ("invoke", "--data", str(market), "--as", "Org2/buyer", "assetsExchange", "P1", "HOLD", "BUY")
    code, out = cli_json(*args)
    assert (code, out["code"]) == (1, "MISSING_CONSENT")
    code, out = cli_json(*args[:5], "--cosign", "Org2/holder", *args[5:])
    assert code == 0, out
    assert out["result"]["Mode"] == "transfer" and out["result"]["Buyer"]["Assets"] == ["P1"]
    assert out["result"]["Seller"]["Assets"] == []


def test_no_approval_is_refused(market: Path) -> None:
    code, out = cli_json("invoke", "--data", str(market), "--as", "Org2/buyer", "--no-approval", "userTopup", "BUY", "1")
    assert (code, out["code"]) == (1, "MISSING_ADMIN_APPROVAL")


def test_status_shows_four_peers_in_sync(market: Path) -> None:
    code, out = cli_json("status", "--data", str(market))
    assert code == 0
    assert out["in_sync"] is True
    assert [p["name"] for p in out["peers"]] == ["peer0.Org1", "peer1.Org1", "peer0.Org2", "peer1.Org2"]
    assert {p["height"] for p in out["peers"]} == {out["orderer_height"]}


def test_second_process_opening_a_running_network_gets_network_busy(market: Path) -> None:
    with Network.open(market):
        code, out = cli_json("status", "--data", str(market))
    assert (code, out["code"]) == (1, "NETWORK_BUSY")
    assert "another process" in out["message"]


def test_verify_ok_exits_0_and_missing_network_is_named(market: Path, tmp_path: Path) -> None:
    code, out = cli_json("verify", "--data", str(market))
    assert (code, out["ok"], out["problems"]) == (0, True, [])
    heights = {n["height"] for n in out["nodes"]}
    assert out["checked_blocks"] == max(heights) and out["nodes_checked"] == len(out["nodes"]) > 1  # blocks, not blocks times nodes
    code, out = cli_json("query", "--data", str(tmp_path / "none"), "queryUser", "X")
    assert (code, out["code"]) == (1, "NO_NETWORK")


def test_init_refuses_an_existing_network(market: Path) -> None:
    done = cli("init", "--data", str(market), "--admin-password", "long-enough-pw")
    assert done.returncode == 1 and "already holds a network" in done.stdout
