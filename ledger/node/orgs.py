"""One organization's key material, made in its own directory (`gridledger org create`).

An organization creates its CA, its nodes' identities, its administrators and users on
its own machine; what it hands to the channel's other members is `org.json` alone (CA
public key, node certificates, the nodes' public NATS keys, its TLS CA certificate).
Each node directory gets that node's own private keys and nothing else private, so a
node directory can be copied to the machine that runs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ledger.core.errors import ConfigError
from ledger.core.identity import CertificateAuthority, write_private_file
from ledger.node import natskeys, tlsgen
from ledger.node.layout import NodeLayout, OrgLayout, make_directory
from ledger.node.nodeconf import NATS_SEED_FILE

CONSOLE_NODE_NAME = "console"
NATS_CLIENT_SEED_FILE = "nats-client.nk"  # the organization's CLI client (invoke, query, verify)


class OrgPublic(msgspec.Struct, forbid_unknown_fields=True):
    """What an organization publishes for the channel: `org.json`."""

    org: str
    ca_public_key: str  # hex
    nodes: list[dict[str, str]]  # channel nodes: {"name", "role", "cert" (hex)}
    nats_users: list[dict[str, str]] = []  # networked: {"node", "kind", "nkey"}
    tls_ca_pem: str = ""  # networked with TLS: the org's TLS CA certificate


@dataclass(frozen=True, slots=True)
class OrgPlan:
    """What `create_org_dir` makes for one organization."""

    org: str
    peers: Sequence[str] = ()
    orderers: Sequence[str] = ()
    admins: Sequence[str] = ()
    users: Sequence[str] = ()
    nats_servers: Sequence[str] = ()  # networked: NATS servers this organization runs
    consoles: Sequence[str] = ()  # networked: console nodes
    networked: bool = False  # NATS credentials for every node, and for the org's CLI client
    tls: bool = False  # an X.509 TLS CA and a certificate per node
    tls_hosts: Mapping[str, Sequence[str]] = field(default_factory=dict)  # node id -> names/addresses in its certificate


def node_id(name: str, org: str) -> str:
    return f"{name}.{org}"


def create_org_dir(out: OrgLayout, plan: OrgPlan) -> OrgPublic:
    """Make the organization's directory; refuse to overwrite an existing one."""
    make_directory(out.root, "the organization's directory")
    if out.ca_file.exists() or out.public_file.exists():
        try:  # name the organization that is there (it need not be the one asked for)
            there = str(msgspec.json.decode(out.public_file.read_bytes())["org"])
        except (OSError, msgspec.DecodeError, KeyError, TypeError):
            there = "one"
        raise ConfigError(f"an organization already exists in {out.root} ({there}): choose a new directory for {plan.org}")
    org = plan.org
    ca = CertificateAuthority.generate(org)
    write_private_file(out.ca_file, ca.to_json())
    nodes: list[dict[str, str]] = []
    for role, names in (("peer", plan.peers), ("orderer", plan.orderers)):
        for name in names:
            identity = ca.issue(name, role)
            identity.save(NodeLayout(out.node_dir(node_id(name, org))).identity_file)
            nodes.append({"name": name, "role": role, "cert": identity.cert_bytes.hex()})
    for name in plan.admins:
        ca.issue(name, "admin").save(out.admin_file(name))
    for name in plan.users:
        ca.issue(name, "client").save(out.user_file(name))
    nats_users: list[dict[str, str]] = []
    if plan.networked:
        for kind, names in (("orderer", plan.orderers), ("peer", plan.peers), ("console", plan.consoles)):
            for name in names:
                nid = node_id(name, org)
                key = natskeys.write_seed(out.node_dir(nid) / NATS_SEED_FILE, natskeys.generate_user_seed())
                nats_users.append({"node": nid, "kind": kind, "nkey": key})
        client_key = natskeys.write_seed(out.root / NATS_CLIENT_SEED_FILE, natskeys.generate_user_seed())
        nats_users.append({"node": node_id("cli", org), "kind": "client", "nkey": client_key})
        for name in plan.nats_servers:
            out.node_dir(node_id(name, org)).mkdir(parents=True, exist_ok=True)
    tls_ca_pem = ""
    if plan.tls:
        ca_pair = tlsgen.make_ca(org)
        write_private_file(out.tls_ca_key_file, ca_pair.key_pem.decode())
        out.tls_ca_cert_file.write_bytes(ca_pair.cert_pem)
        tls_ca_pem = ca_pair.cert_pem.decode()
        every = [*plan.orderers, *plan.peers, *plan.consoles, *plan.nats_servers]
        for name in every:
            nid = node_id(name, org)
            pair = tlsgen.issue(ca_pair, org, nid, list(plan.tls_hosts.get(nid, ())))
            node = NodeLayout(out.node_dir(nid))
            write_private_file(node.tls_key, pair.key_pem.decode())
            node.tls_cert.write_bytes(pair.cert_pem)
        client = tlsgen.issue(ca_pair, org, node_id("cli", org), [])
        write_private_file(out.root / "tls" / "client.key", client.key_pem.decode())
        (out.root / "tls" / "client.pem").write_bytes(client.cert_pem)
    public = OrgPublic(org, ca.public_key.hex(), nodes, nats_users, tls_ca_pem)
    out.public_file.write_bytes(msgspec.json.format(msgspec.json.encode(public)))
    return public


def load_org_public(path: Path) -> OrgPublic:
    """`org.json` of an organization (give the file or the organization's directory)."""
    if path.is_dir():
        path = OrgLayout(path).public_file
    try:
        return msgspec.json.decode(path.read_bytes(), type=OrgPublic)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path}: not an organization's public file: {exc}") from None
