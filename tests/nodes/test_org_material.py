"""Organizations make their own keys; the channel and the node directories get public material only.

`org create` and `channel create` run as real CLI processes; `init --networked` lays out the
default network with TLS, and a scan of every file under every node directory finds that
node's own private keys and no one else's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from nodekit import cli_json, free_base_port, network_file, node_dirs

from ledger.core.encoding import decode
from ledger.core.errors import ConfigError
from ledger.core.messages import Block
from ledger.node.nodeconf import load_node_config

PEM_KEY = re.compile(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", re.S)


def secrets_under(root: Path) -> dict[bytes, Path]:
    """Every private key under `root` in the forms a file could hold it, mapped to the file
    it belongs to: CA and identity seeds (hex and raw), NATS nkey seeds, TLS keys (PEM body)."""
    found: dict[bytes, Path] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".json" and path.name in ("ca.json", "identity.json") or path.parent.name in ("admins", "users"):
            try:
                key = json.loads(data).get("key")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                continue
            if isinstance(key, str):
                found[key.encode()] = path
                found[bytes.fromhex(key)] = path
        elif path.suffix == ".nk":
            found[data.strip()] = path
        elif path.suffix == ".key":
            body = PEM_KEY.search(data)
            assert body, f"{path} holds no PEM private key"
            found[body.group(1).strip()] = path
    return found


def test_org_create_and_channel_create_from_public_files_only(tmp_path: Path) -> None:
    spec = network_file(tmp_path)
    made = {}
    for org, flags in (
        ("Org1", ["--peers", "peer0,peer1", "--console"]),
        ("Org2", ["--peers", "peer0,peer1", "--users", "alice"]),
        ("Regulator", []),
        ("OrdererOrg", ["--orderers", "orderer0,orderer1,orderer2", "--nats", "nats0,nats1,nats2", "--admins", ""]),
    ):
        code, out = cli_json("org", "create", "--org", org, "--out", str(tmp_path / org), "--tls", *flags)
        assert code == 0, out
        made[org] = out
    assert made["OrdererOrg"]["nodes"] == ["orderer0", "orderer1", "orderer2"]
    # each organization directory: its CA, node keys, NATS seeds, TLS keys; org.json public
    public = json.loads((tmp_path / "Org2" / "org.json").read_text())
    assert {n["name"] for n in public["nodes"]} == {"peer0", "peer1"}
    assert {u["kind"] for u in public["nats_users"]} == {"peer", "client"}
    assert "PRIVATE" not in public["tls_ca_pem"]
    assert (tmp_path / "Org2" / "users" / "alice.json").exists()

    # the channel creator sees only the org.json files: copy them alone elsewhere
    publics = tmp_path / "publics"
    for org in made:
        (publics / org).mkdir(parents=True)
        (publics / org / "org.json").write_bytes((tmp_path / org / "org.json").read_bytes())
    genesis = tmp_path / "channel" / "genesis.block"
    args = ["channel", "create", "--config", str(spec), "--out", str(genesis)]
    code, out = cli_json(*args, *[x for org in made for x in ("--org", str(publics / org))])
    assert code == 0, out
    assert out["orderers"] == ["orderer0.OrdererOrg", "orderer1.OrdererOrg", "orderer2.OrdererOrg"]
    block = decode(genesis.read_bytes(), Block)
    assert block.header.number == 0
    raw = genesis.read_bytes()
    every_secret = {k: p for org in made for k, p in secrets_under(tmp_path / org).items()}
    assert every_secret and not [str(p) for k, p in every_secret.items() if k in raw]

    # refusals: an existing genesis block (it was overwritten by a new channel's), a member
    # missing, the same org twice, an existing org directory
    code, out = cli_json(*args, *[x for org in made for x in ("--org", str(publics / org))])
    assert code == 1 and out["code"] == "FILE_EXISTS" and str(genesis) in out["message"], out
    assert genesis.read_bytes() == raw
    code, out = cli_json("channel", "create", "--config", str(spec), "--out", str(tmp_path / "x.block"), "--org", str(publics / "Org1"), "--org", str(publics / "OrdererOrg"))
    assert code == 1 and out["code"] == "CONFIG_INVALID" and "Org2" in out["message"]
    assert not (tmp_path / "x.block").exists()
    code, out = cli_json("channel", "create", "--config", str(spec), "--out", str(tmp_path / "x.block"), *[x for org in [*made, "Org1"] for x in ("--org", str(publics / org))])
    assert code == 1 and "twice" in out["message"]
    code, out = cli_json("org", "create", "--org", "Org1", "--out", str(tmp_path / "Org1"))
    assert code == 1 and out["code"] == "CONFIG_INVALID" and "already exists" in out["message"]
    code, out = cli_json("org", "create", "--org", "Org9", "--out", str(tmp_path / "Org1"))  # once said "Org9 already exists"
    assert code == 1 and "(Org1)" in out["message"] and "for Org9" in out["message"], out
    code, out = cli_json("org", "create", "--org", "bad name", "--out", str(tmp_path / "bad"))
    assert code == 1 and out["code"] == "CONFIG_INVALID" and not (tmp_path / "bad").exists()


def test_no_node_directory_holds_another_organizations_private_key(tmp_path: Path) -> None:
    data = tmp_path / "net"
    code, out = cli_json("init", "--data", str(data), "--networked", "--config", str(network_file(tmp_path, tls=True)), "--base-port", str(free_base_port()), "--admin-password", "Correct-Horse-9")
    assert code == 0, out
    secrets = secrets_under(data)
    homes = node_dirs(data)
    kinds = {load_node_config(h).kind for h in homes}
    assert kinds == {"nats", "orderer", "peer", "console"} and len(homes) == 3 + 3 + 4 + 1
    checked = 0
    for home in homes:
        own = {k for k, p in secrets.items() if p.is_relative_to(home)}
        # its own: identity (orderers, peers), NATS seed (not NATS servers), TLS key
        kind = load_node_config(home).kind
        expected_files = {"tls/node.key"} | ({"identity.json"} if kind in ("orderer", "peer") else set()) | ({"nats.nk"} if kind != "nats" else set())
        assert {str(p.relative_to(home)) for k, p in secrets.items() if k in own} == expected_files, home
        for path in home.rglob("*"):
            if not path.is_file():
                continue
            content = path.read_bytes()
            for key, owner in secrets.items():
                checked += 1
                if key in own:
                    continue
                assert key not in content, f"{path} holds the private key of {owner}"
    print(f"scanned {len(homes)} node directories against {len(secrets)} private key forms ({checked} checks)")
    # node.json and the TLS bundle are public; the genesis copy is byte-identical
    for home in homes:
        assert (home / "genesis.block").read_bytes() == (data / "genesis.block").read_bytes()
        assert "PRIVATE" not in (home / "tls" / "ca.pem").read_text()
        assert (home / "tls" / "ca.pem").read_text().count("BEGIN CERTIFICATE") == 4  # every org's TLS CA


def test_a_base_port_override_outside_the_network_files_range_is_refused() -> None:
    """`init --base-port` and `node configure --base-port` skip the network file's own check
    of networked.base_port; the placement refuses what the file would have refused."""
    from ledger.node.netinit import place
    from ledger.node.spec import BASE_PORT_MAX, BASE_PORT_MIN, default_config_path, load_spec

    spec = load_spec(default_config_path())
    for port in (BASE_PORT_MIN - 1, BASE_PORT_MAX + 1, -4):
        with pytest.raises(ConfigError):
            place(spec, port)
    assert place(spec, BASE_PORT_MAX) is not None


def test_init_records_its_base_port_in_the_directorys_network_file(tmp_path: Path) -> None:
    """Before, DATA/network.yaml kept the file's own base_port (14220) after `init --networked
    --base-port N`, so a later `node configure` from it placed nodes on other ports than the
    running ones."""
    from ledger.node.init import init_network
    from ledger.node.netinit import place
    from ledger.node.spec import default_config_path, load_spec

    base = free_base_port()
    data = tmp_path / "net"
    init_network(default_config_path(), data, admin_password="Correct-Horse-9", networked=True, base_port=base)
    copy = (data / "network.yaml").read_text()
    spec = load_spec(data / "network.yaml")
    assert spec.networked.base_port == base and "# on one machine ports are handed out" in copy  # the line edited, its comment kept
    placed = {n.node_id: n.health_port for n in place(spec).nodes}
    assert placed["peer0.Org1"] == load_node_config(data / "orgs" / "Org1" / "nodes" / "peer0.Org1").health_port
