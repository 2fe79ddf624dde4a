"""`gridledger init`: key material per organization and the channel's genesis block.

Each organization makes its own CA, node identities and admins in its own directory
(`create_org`), publishing only `org.json` (its CA public key and node certificates). The
genesis block is built from those public files alone (`build_genesis`), so no organization
ever needs another's private key. `init_network` does both for every organization of the
network file, plus the console administrator's password-locked wallet.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from ledger.core.blocks import make_genesis_block
from ledger.core.channel_config import (
    BatchParameters,
    ChaincodeDefinition,
    ChannelConfig,
    NodeDefinition,
    OrgDefinition,
)
from ledger.core.encoding import encode
from ledger.core.errors import ConfigError
from ledger.core.identity import CertificateAuthority, now_ms, write_private_file
from ledger.core.messages import Block
from ledger.node import netinit, wallet
from ledger.node.layout import NetworkLayout, make_directory
from ledger.node.material import load_ca
from ledger.node.orgs import CONSOLE_NODE_NAME as CONSOLE_NODE_NAME
from ledger.node.orgs import OrgPlan, OrgPublic, create_org_dir, load_org_public

__all__ = ["OrgPublic", "build_genesis", "create_org", "init_network", "load_org_public"]
from ledger.node.spec import NetworkSpec, load_spec

CONSOLE_ADMIN_NAME = "admin-console"
BASE_PORT_LINE = re.compile(r"^(\s+base_port:[ \t]*)\d+", re.MULTILINE)  # networked.base_port in a network file

log = structlog.get_logger("init")


@dataclass(frozen=True, slots=True)
class InitResult:
    data_dir: Path
    admin_password: str
    admin_password_generated: bool
    approver_org: str


def create_org(
    layout: NetworkLayout, org: str, *, peers: Sequence[str] = (), orderers: Sequence[str] = (), admins: Sequence[str] = ()
) -> OrgPublic:
    """One organization's CA, node identities and admins under `orgs/<org>/` (embedded layout)."""
    return create_org_dir(layout.org(org), OrgPlan(org, peers=peers, orderers=orderers, admins=admins))


def build_genesis(spec: NetworkSpec, orgs: list[OrgPublic], timestamp_ms: int | None = None) -> Block:
    """Block 0 from the network file and the organizations' public files only."""
    org_defs = [OrgDefinition(o.org, bytes.fromhex(o.ca_public_key), ()) for o in orgs]
    node_defs = [NodeDefinition(n["name"], o.org, n["role"], bytes.fromhex(n["cert"])) for o in orgs for n in o.nodes]
    batch = spec.orderer.batch
    config = ChannelConfig(
        channel=spec.channel,
        sequence=0,
        orgs=tuple(org_defs),
        nodes=tuple(node_defs),
        batch=BatchParameters(batch.max_message_count, batch.preferred_max_bytes, batch.absolute_max_bytes, batch.batch_timeout_ms),
        chaincodes=tuple(
            ChaincodeDefinition(cc.name, cc.entry_point, cc.endorsement_policy, cc.approval_policy, json.dumps(cc.params, sort_keys=True))
            for cc in spec.chaincodes
        ),
    )
    if not config.orderers:
        raise ConfigError("no organization holds an orderer node")
    return make_genesis_block(config, now_ms() if timestamp_ms is None else timestamp_ms)


def write_genesis(path: Path, genesis: Block) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(encode(genesis))
    tmp.replace(path)


def init_network(
    config_path: Path, data_dir: Path, *, admin_password: str | None = None, networked: bool = False, base_port: int | None = None
) -> InitResult:
    """Create every organization's key material and the genesis block in an empty `data_dir`.

    `networked` also gives every node (NATS servers, orderers, peers, the console) its own
    directory ready for `gridledger node run` (see `ledger.node.netinit`)."""
    spec = load_spec(config_path)
    layout = NetworkLayout(Path(data_dir))
    if layout.genesis_file.exists():
        raise ConfigError(f"{data_dir} already holds a network (genesis.block exists)")
    generated = admin_password is None
    password = admin_password if admin_password is not None else secrets.token_urlsafe(12)
    wallet.check_password_strength(password)
    placement = netinit.place(spec, base_port) if networked else None  # refused before anything is written
    make_directory(layout.root, "the network's directory")
    shutil.copyfile(config_path, layout.network_file)
    if placement is not None and base_port is not None and base_port != spec.networked.base_port:
        record_base_port(layout.network_file, base_port)
    orgs = [create_org_dir(layout.org(plan.org), plan) for plan in org_plans(spec, placement)]
    approver = spec.approver_org
    write_console_admin_wallet(load_ca(layout, approver), password, layout.console_admin_wallet(approver))
    write_genesis(layout.genesis_file, build_genesis(spec, orgs))
    if placement is not None:
        netinit.configure_nodes(spec, layout, orgs, placement)
    return InitResult(layout.root, password, generated, approver)


def write_console_admin_wallet(ca: CertificateAuthority, password: str, path: Path) -> None:
    """The console's first administrator: a fresh admin identity of the approver's CA, locked
    under `password` (argon2id) in `path`, which the console imports as user "admin" when it
    starts. Why a wallet and not the approver's admin key: it can travel to the console's
    machine (`org console-admin` on the approver's own machine) without exposing a key, and
    the console's administrator signs as an identity of its own."""
    fast = wallet.fast_kdf_for_tests()
    locked = wallet.lock(
        ca.issue(CONSOLE_ADMIN_NAME, "admin"),
        password,
        opslimit=wallet.OPSLIMIT_MIN if fast else wallet.OPSLIMIT_DEFAULT,
        memlimit=wallet.MEMLIMIT_MIN if fast else wallet.MEMLIMIT_DEFAULT,
    )
    write_private_file(path, locked.to_json())


def record_base_port(network_file: Path, base_port: int) -> None:
    """Write `init --base-port`'s port into DATA's copy of the network file. Why: the copy
    kept the file's own base_port, so a `node configure` from it later (an organization
    added) placed its nodes on other ports than the running ones. The one `base_port:` line
    is edited in place (the file's comments stay); a file without exactly one is left as it
    is, with a warning."""
    text = network_file.read_text()
    lines = BASE_PORT_LINE.findall(text)
    if len(lines) == 1:
        edited = BASE_PORT_LINE.sub(lambda m: f"{m.group(1)}{base_port}", text)
        network_file.write_text(edited)
        if load_spec(network_file).networked.base_port == base_port:
            return
        network_file.write_text(text)
    log.warning("base_port_not_recorded", network_file=str(network_file), base_port=base_port, why="no single `base_port:` line to edit")


def org_plans(spec: NetworkSpec, placement: netinit.Placement | None) -> list[OrgPlan]:
    """What each organization of the network file makes (`placement`: networked layout)."""
    networked = placement is not None
    tls = networked and spec.networked.tls
    hosts = netinit.tls_hosts(placement) if placement is not None else {}

    def plan(org: str, peers: Sequence[str] = (), orderers: Sequence[str] = (), admins: Sequence[str] = ()) -> OrgPlan:
        nats = [n.name for n in spec.networked.nats if n.org == org] if networked else []
        consoles = [CONSOLE_NODE_NAME] if networked and org == spec.console.org else []
        return OrgPlan(org, peers, orderers, admins, (), nats, consoles, networked, tls, hosts)

    plans = [plan(org.name, peers=org.peers, admins=org.admins) for org in spec.organizations]
    plans.append(plan(spec.orderer.org, orderers=spec.orderer.nodes))
    return plans
