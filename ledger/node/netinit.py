"""The networked layout: every node's directory made ready to run on its own.

After the organizations made their material (`ledger.node.orgs`) and the genesis block
exists, `configure_nodes` gives every node what `gridledger node run --home DIR` needs:
`node.json` (addresses, ports, credentials file names), a copy of the genesis block and,
with TLS, the bundle of every organization's TLS CA certificate; a NATS server's directory
gets its server config with one user per node (their public nkeys and permissions).
Only public material crosses from one organization's directory to another's.

Ports on one machine are handed out in order from `networked.base_port`: three per NATS
server (client, cluster, monitoring), then one health port per other node.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Collection
from dataclasses import dataclass

from ledger.core.errors import ConfigError
from ledger.node.layout import NetworkLayout, NodeLayout
from ledger.node.natsconf import NatsUser, max_payload, server_config
from ledger.node.nodeconf import NATS_SEED_FILE, NatsClientConfig, NodeConfig, NodeKind, write_node_config
from ledger.node.orgs import CONSOLE_NODE_NAME, OrgPublic, node_id
from ledger.node.spec import BASE_PORT_MAX, BASE_PORT_MIN, NetworkSpec
from ledger.transport.nats_cluster import ServerAddress, write_server_config
from ledger.transport.subjects import ChannelSubjects

PORTS_PER_NATS_SERVER = 3
ROUTE_PASSWORD_BYTES = 24


@dataclass(frozen=True, slots=True)
class NodePlace:
    """Where one node runs: its id (`name.Org`), kind, address and health port."""

    node_id: str
    org: str
    kind: NodeKind
    host: str
    health_port: int


@dataclass(frozen=True, slots=True)
class Placement:
    nats: list[tuple[str, ServerAddress]]  # (org, address); address.name is the node id
    nodes: list[NodePlace]  # orderers, peers, console: in start order

    @property
    def nats_urls(self) -> list[str]:
        return [address.client_url for _, address in self.nats]

    def all_node_ids(self) -> list[str]:
        return [address.name for _, address in self.nats] + [n.node_id for n in self.nodes]


def place(spec: NetworkSpec, base_port: int | None = None) -> Placement:
    """Addresses and ports of every node of the networked layout."""
    net = spec.networked
    port = net.base_port if base_port is None else base_port
    if not BASE_PORT_MIN <= port <= BASE_PORT_MAX:  # an override skips the network file's check
        raise ConfigError(f"base port {port}: choose a port between {BASE_PORT_MIN} and {BASE_PORT_MAX}")
    nats: list[tuple[str, ServerAddress]] = []
    for server in net.nats:
        nid = node_id(server.name, server.org)
        nats.append((server.org, ServerAddress(nid, net.host_of(nid), port, port + 1, port + 2)))
        port += PORTS_PER_NATS_SERVER
    nodes: list[NodePlace] = []
    kinds: list[tuple[str, NodeKind, list[str]]] = [(spec.orderer.org, "orderer", spec.orderer.nodes)]
    kinds += [(org.name, "peer", org.peers) for org in spec.organizations]
    kinds.append((spec.console.org, "console", [CONSOLE_NODE_NAME]))
    for org, kind, names in kinds:
        for name in names:
            nid = node_id(name, org)
            nodes.append(NodePlace(nid, org, kind, net.host_of(nid), port))
            port += 1
    return Placement(nats, nodes)


def tls_hosts(placement: Placement) -> dict[str, list[str]]:
    """The address each node's TLS certificate must name."""
    hosts = {address.name: [address.host] for _, address in placement.nats}
    hosts.update({n.node_id: [n.host] for n in placement.nodes})
    return hosts


def configure_nodes(
    spec: NetworkSpec,
    layout: NetworkLayout,
    orgs: list[OrgPublic],
    placement: Placement,
    *,
    only_orgs: Collection[str] | None = None,
    route_password: str | None = None,
) -> None:
    """Write every node's `node.json`, genesis copy, TLS bundle and (NATS) server config;
    with `only_orgs`, those organizations' nodes only (an organization configuring its own
    nodes from the others' public files, `gridledger node configure`). The NATS servers'
    shared route password is `route_password`, else a new one (one `init` makes them all)."""
    tls = spec.networked.tls
    bundle = "".join(o.tls_ca_pem for o in orgs)
    if tls and not all(o.tls_ca_pem for o in orgs):
        raise ConfigError("networked.tls is on but an organization published no TLS CA certificate")
    subjects = ChannelSubjects(spec.channel)
    users = [NatsUser(u["node"], u["kind"], u["nkey"]) for o in orgs for u in o.nats_users]
    client = NatsClientConfig(
        urls=placement.nats_urls,
        nkey_seed_file=NATS_SEED_FILE,
        tls_ca_file="tls/ca.pem" if tls else None,
        tls_cert_file="tls/node.pem" if tls else None,
        tls_key_file="tls/node.key" if tls else None,
    )
    route_password = route_password or new_route_password()

    def ours(org: str) -> bool:
        return only_orgs is None or org in only_orgs

    addresses = [address for _, address in placement.nats]
    payload = max_payload(spec.orderer.batch.absolute_max_bytes, spec.orderer.batch.preferred_max_bytes)
    for org, address in placement.nats:
        if not ours(org):
            continue
        home = layout.node(address.name)
        _public_files(layout, home, bundle if tls else None)
        write_node_config(
            home.home,
            NodeConfig(
                name=address.name,
                org=org,
                kind="nats",
                channel=spec.channel,
                health_host=address.host,
                health_port=address.monitor_port,
                server_config_file=home.nats_server_config.name,
            ),
        )
        config = server_config(address, addresses, users, subjects, route_password=route_password, payload_max=payload, tls=tls)
        write_server_config(home.nats_server_config, config)  # owner-only: it holds the route password
    for node in placement.nodes:
        if not ours(node.org):
            continue
        home = layout.node(node.node_id)
        _public_files(layout, home, bundle if tls else None)
        console = node.kind == "console"
        write_node_config(
            home.home,
            NodeConfig(
                name=node.node_id,
                org=node.org,
                kind=node.kind,
                channel=spec.channel,
                nats=client,
                identity_file="identity.json",
                health_host=node.host,
                health_port=node.health_port,
                state_url=_state_url(spec, layout, node),
                console_host=node.host if console else None,
                console_port=spec.networked.console_port if console else None,
            ),
        )


def new_route_password() -> str:
    """The secret every NATS server of the cluster presents on its routes to the others."""
    return secrets.token_urlsafe(ROUTE_PASSWORD_BYTES)


def _state_url(spec: NetworkSpec, layout: NetworkLayout, node: NodePlace) -> str | None:
    """A peer's state database: None (SQLite in its directory) unless the network file's
    `storage.state` is a URL template, e.g. PostgreSQL with one database per peer ({peer})."""
    if node.kind != "peer" or spec.storage.state == "sqlite":
        return None
    return layout.state_url(spec.storage.state, node.node_id)


def _public_files(layout: NetworkLayout, home: NodeLayout, tls_bundle: str | None) -> None:
    home.home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout.genesis_file, home.genesis_file)
    if tls_bundle is not None:
        home.tls_dir.mkdir(parents=True, exist_ok=True)
        home.tls_ca_bundle.write_text(tls_bundle)
