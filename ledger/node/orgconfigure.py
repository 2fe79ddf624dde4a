"""One organization configures its own nodes of a networked channel (`gridledger node configure`).

`gridledger init --networked` makes every organization's keys on one machine. A consortium
whose members keep their keys apart works as the papers' operators do: each organization
runs `gridledger org create --org NAME --out DATA/orgs/NAME` on its own machine and sends
`org.json`; whoever builds the channel runs `gridledger channel create` on those public files;
every member then holds, in its own DATA, the consortium's `network.yaml`, `genesis.block`,
its own organization's directory and every other member's `orgs/<Org>/org.json` only, and
this module writes its own nodes' `node.json`, genesis copies and NATS server configs from
them, exactly as `init` would have. The NATS servers of the cluster share one route secret,
made by the member that runs the network file's first server and handed to the others
that run one (any other member without it is ROUTE_SECRET_MISSING, not a secret of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.core.channel_config import genesis_config
from ledger.core.errors import ConfigError
from ledger.core.identity import write_private_file
from ledger.node import netinit
from ledger.node.layout import ROUTE_SECRET_FILE, NetworkLayout
from ledger.node.material import load_genesis
from ledger.node.orgs import load_org_public
from ledger.node.spec import load_spec


@dataclass(frozen=True, slots=True)
class OwnNodes:
    """What `configure_own_nodes` did."""

    orgs: list[str]  # the organizations whose own directory (their CA) is in DATA
    nodes: list[str]  # the node ids configured
    route_secret: Path | None  # None when none of these organizations runs a NATS server
    route_secret_created: bool


def configure_own_nodes(data_dir: Path, *, base_port: int | None = None, route_secret: Path | None = None) -> OwnNodes:
    """Configure the nodes of the organizations whose own directory is in `data_dir`, from
    the network file, the genesis block and the other members' public files (ConfigError
    naming what is missing or does not match)."""
    layout = NetworkLayout(Path(data_dir))
    if not layout.network_file.exists():
        raise ConfigError(f"{layout.network_file} is missing: copy the consortium's network file there")
    if not layout.genesis_file.exists():
        raise ConfigError(f"{layout.genesis_file} is missing: copy the genesis block made by `gridledger channel create` there")
    spec = load_spec(layout.network_file)
    members = spec.members
    missing = [m for m in members if not layout.org_public_file(m).exists()]
    if missing:
        raise ConfigError(f"no org.json of {', '.join(missing)}: put each member's public file at {layout.orgs_dir}/<Org>/org.json")
    publics = [load_org_public(layout.org_public_file(m)) for m in members]
    for member, public in zip(members, publics):
        if public.org != member:
            raise ConfigError(f"{layout.org_public_file(member)} is the public file of {public.org!r}, not of {member!r}")
    on_ledger = {o.name: o.ca_public_key.hex() for o in genesis_config(load_genesis(layout)).orgs}
    for public in publics:
        if on_ledger.get(public.org) != public.ca_public_key:
            raise ConfigError(f"{public.org}'s org.json names another CA than the genesis block: it is not this channel's (or not the current org.json)")
    here = [m for m in members if layout.ca_file(m).exists()]
    if not here:
        raise ConfigError(f"no organization's own directory is in {layout.root}: make yours with `gridledger org create --org NAME --out {layout.orgs_dir}/NAME`")
    placement = netinit.place(spec, base_port)
    ours = [a.name for org, a in placement.nats if org in here] + [n.node_id for n in placement.nodes if n.org in here]
    absent = [nid for nid in ours if not layout.node_identity_file(nid).exists() and not layout.node_dir(nid).exists()]
    if absent:
        raise ConfigError(f"the network file names {', '.join(absent)}, which `org create` did not make in {layout.orgs_dir}")
    password, secret_path, created = None, None, False
    if any(org in here for org, _ in placement.nats):
        secret_path = route_secret or layout.route_secret_file
        maker = placement.nats[0][0]  # the organization of the network file's first NATS server
        if secret_path.exists():
            password = secret_path.read_text().strip()
            if not password:
                raise ConfigError(f"{secret_path} is empty: it holds the NATS servers' route secret")
        elif maker not in here:
            # A secret of our own would keep our servers out of the cluster: its routes refused
            # (measured: nats0 0 routes, /healthz 503, the consortium never formed).
            raise ConfigError(
                f"{secret_path} is missing: the NATS servers share one route secret, which {maker} (it runs the network file's "
                f"first server) made with its `node configure`: copy its DATA/{ROUTE_SECRET_FILE} here, or pass --route-secret FILE",
                code="ROUTE_SECRET_MISSING",
            )
        else:
            password = netinit.new_route_password()
            write_private_file(secret_path, password + "\n")
            created = True
    netinit.configure_nodes(spec, layout, publics, placement, only_orgs=here, route_password=password)
    return OwnNodes(here, ours, secret_path, created)
