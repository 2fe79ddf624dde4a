"""The readable network file (`network-config/*.yaml`): organizations, nodes, policies,
batch parameters, storage, and how the network runs on one machine.

Read into typed structs that refuse unknown fields; `load_spec` checks what the types
cannot (unique names, parseable policies, sane batch limits) and names the field at fault.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import yaml

from ledger.core.errors import ConfigError
from ledger.core.policy import PolicyError, parse_policy

NATS_SERVERS_DEFAULT = 3  # three servers tolerate one crash (R3 streams)
LOCAL_HOST = "127.0.0.1"
PORT_MAX = 65535
BASE_PORT_MIN = 1024  # below: ports only root may bind
BASE_PORT_MAX = PORT_MAX - 100  # room above it for one machine's nodes (3 per NATS server, 1 per other node)
NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")  # orgs and nodes: used in paths and subjects


def default_config_path() -> Path:
    return Path(__file__).resolve().parents[2] / "network-config" / "network.yaml"


class OrgSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    peers: list[str] = []
    admins: list[str] = msgspec.field(default_factory=lambda: ["admin"])


class BatchSpec(msgspec.Struct, forbid_unknown_fields=True):
    max_message_count: int = 200
    preferred_max_bytes: int = 1 << 20
    absolute_max_bytes: int = 10 << 20
    batch_timeout_ms: int = 50


class OrdererSpec(msgspec.Struct, forbid_unknown_fields=True):
    org: str = "OrdererOrg"
    nodes: list[str] = msgspec.field(default_factory=lambda: ["orderer0"])
    batch: BatchSpec = msgspec.field(default_factory=BatchSpec)


class ChaincodeSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    entry_point: str
    endorsement_policy: str = "MAJORITY"
    approval_policy: str = ""
    params: dict[str, str] = {}
    workload: str = ""  # entry point of the benchmark workload (`gridledger bench`)
    commands: str = ""  # entry point `module:register` adding the chaincode's own CLI commands
    bench: str = ""  # entry point `module:run` of a benchmark the chaincode measures itself (`bench --workload NAME`)


class ConsoleSpec(msgspec.Struct, forbid_unknown_fields=True):
    org: str = "Org1"


class StorageSpec(msgspec.Struct, forbid_unknown_fields=True):
    state: str = "sqlite"


class EmbeddedSpec(msgspec.Struct, forbid_unknown_fields=True):
    """How the long-running commands (`up`, `bench`) run the network on one machine."""

    peer_processes: bool = False  # each peer in its own OS process, so peers use every core


class NatsServerSpec(msgspec.Struct, forbid_unknown_fields=True):
    """One NATS server of the networked mode, run by organization `org`."""

    name: str
    org: str


class NetworkedSpec(msgspec.Struct, forbid_unknown_fields=True):
    """How the networked layout (`init --networked`, `up --networked`) places its nodes.

    On one machine every node listens on `127.0.0.1` and ports are handed out in order
    from `base_port`; `hosts` names another address for a node (`name.Org`) or for every
    node of an organization (`Org`), for deployments across machines or namespaces.
    """

    tls: bool = False  # TLS on every NATS connection (certificates made at init)
    nats: list[NatsServerSpec] = []  # empty: NATS_SERVERS_DEFAULT servers run by the orderer org
    base_port: int = 14220
    hosts: dict[str, str] = {}
    console_port: int = 8080

    def host_of(self, node_id: str) -> str:
        _, _, org = node_id.partition(".")
        return self.hosts.get(node_id) or self.hosts.get(org) or LOCAL_HOST


class NetworkSpec(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    organizations: list[OrgSpec]
    orderer: OrdererSpec
    chaincodes: list[ChaincodeSpec]
    console: ConsoleSpec = msgspec.field(default_factory=ConsoleSpec)
    storage: StorageSpec = msgspec.field(default_factory=StorageSpec)
    embedded: EmbeddedSpec = msgspec.field(default_factory=EmbeddedSpec)
    networked: NetworkedSpec = msgspec.field(default_factory=NetworkedSpec)

    @property
    def members(self) -> list[str]:
        """Every organization of the channel: the network file's, then the orderer's."""
        return [org.name for org in self.organizations] + [self.orderer.org]

    @property
    def approver_org(self) -> str:
        """The organization whose administrators approve requests (supervision)."""
        for chaincode in self.chaincodes:
            if "approver_org" in chaincode.params:
                return chaincode.params["approver_org"]
        return self.organizations[-1].name


def load_spec(path: Path) -> NetworkSpec:
    try:
        raw = yaml.safe_load(path.read_text())
        spec = msgspec.convert(raw, NetworkSpec)
    except (OSError, yaml.YAMLError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    check_spec(spec)
    return spec


def check_spec(spec: NetworkSpec) -> None:
    names = spec.members
    if len(set(names)) != len(names):
        raise ConfigError("organization names must be unique (the orderer org included)")
    nodes = [n for org in spec.organizations for n in [*org.peers, *org.admins]] + spec.orderer.nodes
    for name in names + nodes:
        if not NODE_NAME.match(name):
            raise ConfigError(f"name {name!r}: organizations and nodes are 1-32 letters, digits, '_' or '-', starting with a letter")
    peer_orgs = [org.name for org in spec.organizations if org.peers]
    if not peer_orgs:
        raise ConfigError("at least one organization needs peers")
    if not spec.orderer.nodes:
        raise ConfigError("the orderer needs at least one node")
    if len(set(spec.orderer.nodes)) != len(spec.orderer.nodes):
        raise ConfigError("orderer node names must be unique")
    for chaincode in spec.chaincodes:
        for text in filter(None, (chaincode.endorsement_policy, chaincode.approval_policy)):
            try:
                parse_policy(text, peer_orgs)
            except PolicyError as exc:
                raise ConfigError(f"chaincode {chaincode.name}: policy {text!r}: {exc}") from None
    batch = spec.orderer.batch
    if not (0 < batch.max_message_count and 0 < batch.preferred_max_bytes <= batch.absolute_max_bytes and batch.batch_timeout_ms > 0):
        raise ConfigError("orderer.batch: counts, sizes and the timeout must be positive, preferred <= absolute")
    check_networked(spec, names)


def check_networked(spec: NetworkSpec, orgs: list[str]) -> None:
    networked = spec.networked
    if not networked.nats:
        networked.nats = [NatsServerSpec(f"nats{i}", spec.orderer.org) for i in range(NATS_SERVERS_DEFAULT)]
    nats_names = [server.name for server in networked.nats]
    if not nats_names:
        raise ConfigError("networked.nats: at least one NATS server is needed (three tolerate a crash)")
    if len(set(nats_names)) != len(nats_names):
        raise ConfigError("networked.nats: server names must be unique")
    for server in networked.nats:
        if not NODE_NAME.match(server.name):
            raise ConfigError(f"networked.nats: name {server.name!r} is not a valid node name")
        if server.org not in orgs:
            raise ConfigError(f"networked.nats: server {server.name} belongs to unknown organization {server.org!r}")
    if not (BASE_PORT_MIN <= networked.base_port <= BASE_PORT_MAX):
        raise ConfigError(f"networked.base_port {networked.base_port}: choose a port between {BASE_PORT_MIN} and {BASE_PORT_MAX}")
