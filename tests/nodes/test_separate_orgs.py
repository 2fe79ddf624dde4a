"""A consortium whose members never hold each other's keys: each organization makes its own
directory (`org create`), the channel is built from their public files (`channel create`),
and each configures its own nodes (`node configure`) from the others' `org.json` only. Every
node then runs from its own organization's directory, and a transaction commits on all
four peers. The one private key that crosses is the approver's administrator key the
console organization's machine holds (the README's deployment step for the console).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import yaml
from nodekit import CLI, NodeProcesses, free_base_port, http_ok, node_homes, wait_for
from test_gateway_nats import submit, wait_all_alive, wait_in_sync
from test_networked_console import USER_PASSWORD, Console

from ledger.core.codes import ValidationCode
from ledger.node.layout import ROUTE_SECRET_FILE, NetworkLayout
from ledger.node.netstatus import networked_status
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.node.spec import default_config_path
from ledger.node.wallet import LockedWallet, unlock
from ledger.tools.netverify import verify_networked

ORG_ARGS = {
    "OrdererOrg": ["--orderers", "orderer0,orderer1,orderer2", "--nats", "nats0,nats1,nats2", "--admins", ""],
    "Org1": ["--peers", "peer0,peer1", "--console"],
    "Org2": ["--peers", "peer0,peer1"],
    "Regulator": [],
}
CLIENT_ORG, APPROVER_ORG = "Org1", "Regulator"
PRIVATE_FILES = ("ca.json", "identity.json", "*.nk", "admins/*.json", "users/*.json")


def gridledger(*args: str) -> dict[str, object]:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stdout, done.stderr[-2000:])
    return dict(json.loads(done.stdout))


def private_files(org_dir: Path) -> set[Path]:
    return {p for pattern in PRIVATE_FILES for p in org_dir.rglob(pattern.split("/")[-1]) if p.is_file() and (pattern.count("/") == 0 or p.parent.name == pattern.split("/")[0])}


def hand_out(data: dict[str, Path], network_file: Path, genesis: Path, publics: dict[str, Path]) -> None:
    """What every member receives into its DATA: the network file, the genesis block and the
    other members' org.json."""
    for org, root in data.items():
        layout = NetworkLayout(root)
        shutil.copyfile(network_file, layout.network_file)
        shutil.copyfile(genesis, layout.genesis_file)
        for other, public in publics.items():
            if other != org:
                layout.org_dir(other).mkdir(parents=True)
                shutil.copyfile(public, layout.org_public_file(other))


def test_each_organization_configures_its_own_nodes_from_public_files_and_the_channel_commits(tmp_path: Path, nodes: NodeProcesses) -> None:
    spec = yaml.safe_load(default_config_path().read_text())
    spec["networked"]["base_port"] = free_base_port()
    network_file = tmp_path / "network.yaml"
    network_file.write_text(yaml.safe_dump(spec))
    data = {org: tmp_path / org for org in ORG_ARGS}
    for org, args in ORG_ARGS.items():  # on each organization's own machine
        made = gridledger("org", "create", "--org", org, "--out", str(NetworkLayout(data[org]).org_dir(org)), *args)
        assert made["org"] == org
    publics = {org: NetworkLayout(data[org]).org_public_file(org) for org in ORG_ARGS}
    genesis = tmp_path / "channel" / "genesis.block"
    genesis.parent.mkdir()
    gridledger("channel", "create", *[a for org in ORG_ARGS for a in ("--org", str(publics[org]))], "--out", str(genesis), "--config", str(network_file))
    hand_out(data, network_file, genesis, publics)
    own_private = {org: private_files(NetworkLayout(data[org]).org_dir(org)) for org in ORG_ARGS}
    shutil.copytree(NetworkLayout(data[APPROVER_ORG]).org_dir(APPROVER_ORG) / "admins", NetworkLayout(data[CLIENT_ORG]).org_dir(APPROVER_ORG) / "admins")

    first = gridledger("node", "configure", "--data", str(data["OrdererOrg"]))
    assert first["orgs"] == ["OrdererOrg"] and first["route_secret_created"] is True
    assert sorted(first["nodes"]) == sorted([f"nats{i}.OrdererOrg" for i in range(3)] + [f"orderer{i}.OrdererOrg" for i in range(3)])  # type: ignore[arg-type]
    assert (data["OrdererOrg"] / ROUTE_SECRET_FILE).stat().st_mode & 0o077 == 0
    for org in ("Org1", "Org2", "Regulator"):
        done = gridledger("node", "configure", "--data", str(data[org]))
        assert done["orgs"] == [org] and done["route_secret"] is None  # runs no NATS server: needs no secret
        if org == APPROVER_ORG:  # it was told "node run --home DIR for each node" of none
            assert done["nodes"] == [] and "runs no node" in str(done["next"]) and "node run" not in str(done["next"]), done
    for org, root in data.items():  # no member holds another's private material (but the console's approver key)
        layout = NetworkLayout(root)
        assert {p.parents[2].name for p in layout.orgs_dir.glob("*/nodes/*/node.json")} <= {org}  # its own nodes only
        for other in ORG_ARGS:
            found = private_files(layout.org_dir(other))
            if other == org:
                assert found >= own_private[org]
            elif (org, other) == (CLIENT_ORG, APPROVER_ORG):
                assert found == {layout.org_dir(other) / "admins" / "admin.json"}
            else:
                assert not found, (org, other, found)

    nodes.start_nats(data["OrdererOrg"])
    for home in node_homes(data["OrdererOrg"], "orderer") + node_homes(data["Org1"], "peer") + node_homes(data["Org2"], "peer"):
        nodes.start(home)
    with Network.open(data[CLIENT_ORG]) as net:
        wait_all_alive(net)
        assert len(net.peers) == 4
        user = net.enroll(CLIENT_ORG, "alice")
        tx_id, block, code = submit(net, user, "userRegister", "Alice", "A1")
        assert code == ValidationCode.VALID
        wait_in_sync(net, block + 1)
        assert all(p.tx_location(tx_id) is not None for p in net.peers)
    wait_for(lambda: verify_networked(data[CLIENT_ORG]).ok, 60, "verify from the console organization's directory")

    def whole_consortium_heard_from_org2() -> bool:  # its DATA holds only its own two node directories
        report = networked_status(data["Org2"])
        heard = {n["name"] for n in report["nodes"] if n["alive"] and n["kind"] in ("orderer", "peer")}
        return bool(report["in_sync"]) and heard == {f"orderer{i}.OrdererOrg" for i in range(3)} | {f"peer{i}.{o}" for i in range(2) for o in ("Org1", "Org2")}

    wait_for(whole_consortium_heard_from_org2, 60, "Org2's status hears every member's orderers and peers")
    servers = {n["name"]: n for n in networked_status(data["Org2"])["nodes"] if n["kind"] == "nats"}  # none runs from Org2's DATA
    client_urls = next(c.nats.urls for c in map(load_node_config, node_homes(data["Org2"], "peer")) if c.nats is not None)
    assert sorted(servers) == [f"nats{i}.OrdererOrg" for i in range(3)] and all(n["alive"] and n["pid"] is None for n in servers.values()), servers
    assert [servers[f"nats{i}.OrdererOrg"]["address"] for i in range(3)] == client_urls  # where Org2's own nodes connect

    # the approver runs no node: its CLI reaches the consortium by the network file's servers, with its own key
    regulator = data[APPROVER_ORG]
    assert not any(regulator.glob("orgs/*/nodes/*/node.json"))
    done = gridledger("invoke", "--data", str(regulator), "--as", "Regulator/admin", "userRegister", "Regulator desk", "reg-desk")
    assert done["code"] == "VALID", done
    assert gridledger("query", "--data", str(regulator), "--as", "Regulator/admin", "queryUser", "reg-desk")["result"]["Name"] == "Regulator desk"
    # a bare user name is the member's own organization's (it was the console's, Org1, whose CA a
    # member's DATA lacks: UNKNOWN_USER "organization 'Org1' has no CA", for the query default too)
    assert gridledger("query", "--data", str(regulator), "queryUser", "reg-desk")["result"]["Name"] == "Regulator desk"
    assert gridledger("query", "--data", str(data["Org2"]), "queryUser", "reg-desk")["result"]["Name"] == "Regulator desk"
    done = gridledger("invoke", "--data", str(regulator), "--as", "clerk", "userRegister", "Regulator clerk", "reg-clerk")
    assert done["code"] == "VALID" and done["result"]["Identity"] == "Regulator/clerk", done  # type: ignore[index]
    refused = subprocess.run([*CLI, "invoke", "--data", str(regulator), "--as", "Org1/alice", "userTopup", "A1", "5"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and json.loads(refused.stdout)["code"] == "UNKNOWN_USER" and "--as Regulator/NAME" in refused.stdout, refused.stdout

    def regulator_sees_all_in_sync() -> bool:
        report = networked_status(regulator)
        alive = {n["name"] for n in report["nodes"] if n["alive"]}
        return bool(report["in_sync"]) and len(alive) == 3 + 3 + 4  # NATS servers, orderers, peers: all of another member's
    wait_for(regulator_sees_all_in_sync, 60, "the approver's status from its own DATA")
    wait_for(lambda: verify_networked(regulator).ok, 60, "verify from the approver's own DATA")

    # the console's administrator: issued by the approver on its own machine, handed over locked
    issued = gridledger("org", "console-admin", "--org-dir", str(NetworkLayout(data[APPROVER_ORG]).org_dir(APPROVER_ORG)))
    wallet_file, password = Path(str(issued["wallet"])), str(issued["admin_password"])
    assert issued["org"] == APPROVER_ORG and wallet_file.stat().st_mode & 0o077 == 0 and "console/wallets/Regulator/admin.json" in str(issued["next"])
    console_layout = NetworkLayout(data[CLIENT_ORG])
    console_layout.console_admin_wallet(APPROVER_ORG).parent.mkdir(parents=True)
    shutil.copyfile(wallet_file, console_layout.console_admin_wallet(APPROVER_ORG))
    port = free_base_port(1)
    home = console_layout.node_dir(f"console.{CLIENT_ORG}")
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1"}
    with open(home / "test-run.log", "ab") as log:
        nodes.procs[home] = subprocess.Popen([*CLI, "node", "run", "--home", str(home), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(base + "/healthz"), what="the member-built consortium's console healthy")
    console = Console(base)
    user_id = f"u{uuid.uuid4().hex[:8]}"
    response = console.http.post("/users/register", json={"userName": "Bob", "userId": user_id, "password": USER_PASSWORD})
    assert response.status_code == 202, response.text
    approval = console.http.post(f"/reviews/{response.json()['requestId']}/approve", headers=console.login("admin", password))
    assert approval.status_code == 200 and approval.json()["status"] == "committed", approval.text  # signed by Regulator/admin-console

    killed = nodes.procs.pop(node_homes(data["OrdererOrg"], "nats")[2])
    killed.kill()
    killed.wait(timeout=30)
    wait_for(
        lambda: not next(n for n in networked_status(data["Org2"])["nodes"] if n["name"] == "nats2.OrdererOrg")["alive"],
        30,
        "Org2's status sees another member's NATS server gone",
    )

    # another member's peer down: Org1's verify cannot check it and says so (it named
    # BLOCKS_MISSING "no block files at Org1's DATA/orgs/Org2/nodes/peer1.Org2/blocks")
    down = nodes.procs.pop(node_homes(data["Org2"], "peer")[1])
    down.kill()
    down.wait(timeout=30)
    wait_for(
        lambda: not next(n for n in networked_status(data[CLIENT_ORG])["nodes"] if n["name"] == "peer1.Org2")["alive"],
        30,
        "Org1's status sees Org2's peer1 gone",
    )
    report = verify_networked(data[CLIENT_ORG]).as_dict()
    assert not report["ok"] and report["first_fault"]["code"] == "NODE_UNREACHABLE" and report["first_fault"]["node"] == "peer1.Org2", report
    assert not any("no block files" in p for p in report["problems"]), report
    assert report["nodes_checked"] == len(report["nodes"]) - 1, report  # listed, not counted as checked (it was)


def test_console_admin_is_refused_without_a_ca_or_over_an_existing_wallet(tmp_path: Path) -> None:
    org_dir = NetworkLayout(tmp_path / "Regulator").org_dir("Regulator")
    gridledger("org", "create", "--org", "Regulator", "--out", str(org_dir))
    first = gridledger("org", "console-admin", "--org-dir", str(org_dir), "--admin-password", "chosen-pass-123")
    assert "admin_password" not in first  # a chosen password is never printed
    for args, code in (
        (["--org-dir", str(org_dir)], "FILE_EXISTS"),  # a second wallet would replace the first administrator
        (["--org-dir", str(tmp_path)], "UNKNOWN_USER"),  # no CA there
        (["--org-dir", str(org_dir), "--out", str(tmp_path / "w.json"), "--admin-password", "short"], "WEAK_PASSWORD"),
    ):
        done = subprocess.run([*CLI, "org", "console-admin", *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert json.loads(done.stdout)["code"] == code, done.stdout
    assert not (tmp_path / "w.json").exists()
    locked = LockedWallet.from_json(Path(str(first["wallet"])).read_text())
    identity = unlock(locked, "chosen-pass-123")
    assert identity.identity.org == "Regulator" and identity.identity.role == "admin"


def test_configure_refuses_what_is_missing_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "Org2"
    gridledger("org", "create", "--org", "Org2", "--out", str(NetworkLayout(root).org_dir("Org2")), "--peers", "peer0,peer1")
    done = subprocess.run([*CLI, "node", "configure", "--data", str(root)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    refusal = json.loads(done.stdout)
    assert refusal["code"] == "CONFIG_INVALID" and "network.yaml" in refusal["message"]
    shutil.copyfile(default_config_path(), NetworkLayout(root).network_file)
    (root / "genesis.block").write_bytes(b"")
    done = subprocess.run([*CLI, "node", "configure", "--data", str(root)], capture_output=True, text=True, timeout=120)
    refusal = json.loads(done.stdout)
    assert done.returncode == 1 and refusal["code"] == "CONFIG_INVALID" and "org.json of Org1" in refusal["message"], refusal


def test_a_member_running_a_later_nats_server_needs_the_first_ones_route_secret(tmp_path: Path) -> None:
    """With one NATS server per organization, `node configure` of a member that runs nats1
    without the route secret used to make a secret of its own: its server's routes were
    refused and the cluster never formed (nats0 with 0 routes, /healthz 503). It is now
    ROUTE_SECRET_MISSING naming who made it, with nothing written."""
    spec = yaml.safe_load(default_config_path().read_text())
    spec["networked"]["base_port"] = free_base_port()
    spec["networked"]["nats"] = [{"name": "nats0", "org": "OrdererOrg"}, {"name": "nats1", "org": "Org1"}, {"name": "nats2", "org": "Org2"}]
    org_args = {**ORG_ARGS, "OrdererOrg": ["--orderers", "orderer0,orderer1,orderer2", "--nats", "nats0", "--admins", ""], "Org1": [*ORG_ARGS["Org1"], "--nats", "nats1"]}
    network_file = tmp_path / "network.yaml"
    network_file.write_text(yaml.safe_dump(spec))
    data = {org: tmp_path / org for org in org_args}
    for org, args in org_args.items():
        gridledger("org", "create", "--org", org, "--out", str(NetworkLayout(data[org]).org_dir(org)), *args)
    genesis = tmp_path / "genesis.block"
    gridledger("channel", "create", *[a for org in org_args for a in ("--org", str(NetworkLayout(data[org]).org_public_file(org)))], "--out", str(genesis), "--config", str(network_file))
    hand_out(data, network_file, genesis, {org: NetworkLayout(data[org]).org_public_file(org) for org in org_args})
    assert gridledger("node", "configure", "--data", str(data["OrdererOrg"]))["route_secret_created"] is True

    done = subprocess.run([*CLI, "node", "configure", "--data", str(data["Org1"])], capture_output=True, text=True, timeout=120)
    refusal = json.loads(done.stdout)
    assert done.returncode == 1 and refusal["code"] == "ROUTE_SECRET_MISSING" and "OrdererOrg" in refusal["message"], refusal
    assert not (data["Org1"] / ROUTE_SECRET_FILE).exists() and not list(data["Org1"].glob("orgs/*/nodes/*/node.json"))

    done_with = gridledger("node", "configure", "--data", str(data["Org1"]), "--route-secret", str(data["OrdererOrg"] / ROUTE_SECRET_FILE))
    assert done_with["route_secret_created"] is False
    secret = (data["OrdererOrg"] / ROUTE_SECRET_FILE).read_text().strip()
    server = json.loads((NetworkLayout(data["Org1"]).node_dir("nats1.Org1") / "nats-server.json").read_text())
    assert server["cluster"]["authorization"]["password"] == secret  # the cluster's one secret
