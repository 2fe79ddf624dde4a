"""Channel configuration: the network file, key material, and the genesis block.

`network-config/*.yaml` is read into a typed `NetworkSpec` (refusing unknown fields);
`init_network` turns it into CA keys, node and admin identities, the regulator admin's
password-locked wallet, and block 0 whose single CONFIG transaction is the `ChannelConfig`.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from ledger import wallet
from ledger.encoding import Record, decode, encode
from ledger.identity import CertificateAuthority, SigningIdentity, write_private_file
from ledger.messages import (
    Block,
    BlockMetadata,
    Envelope,
    Payload,
    PayloadType,
    ValidationCode,
    commit_hash,
)
from ledger.policy import PolicyError, parse_policy

GENESIS_FILE = "genesis.block"
CONFIG_COPY_FILE = "network.yaml"
ZERO_HASH = bytes(32)


def default_config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "network-config" / "network.yaml"


# --- the readable network file ---------------------------------------------------------


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


class ConsoleSpec(msgspec.Struct, forbid_unknown_fields=True):
    org: str = "Org1"


class StorageSpec(msgspec.Struct, forbid_unknown_fields=True):
    state: str = "sqlite"


class EmbeddedSpec(msgspec.Struct, forbid_unknown_fields=True):
    """How the long-running commands (`up`, `bench`) run the network on one machine."""

    peer_processes: bool = False  # each peer in its own OS process, so peers use every core


class NetworkSpec(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    organizations: list[OrgSpec]
    orderer: OrdererSpec
    chaincodes: list[ChaincodeSpec]
    console: ConsoleSpec = msgspec.field(default_factory=ConsoleSpec)
    storage: StorageSpec = msgspec.field(default_factory=StorageSpec)
    embedded: EmbeddedSpec = msgspec.field(default_factory=EmbeddedSpec)


class ConfigError(ValueError):
    """The network file is wrong; the message says where."""


def load_spec(path: Path) -> NetworkSpec:
    try:
        raw = yaml.safe_load(path.read_text())
        spec = msgspec.convert(raw, NetworkSpec)
    except (OSError, yaml.YAMLError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _check_spec(spec)
    return spec


def _check_spec(spec: NetworkSpec) -> None:
    names = [org.name for org in spec.organizations] + [spec.orderer.org]
    if len(set(names)) != len(names):
        raise ConfigError("organization names must be unique (the orderer org included)")
    peer_orgs = [org.name for org in spec.organizations if org.peers]
    if not peer_orgs:
        raise ConfigError("at least one organization needs peers")
    if len(spec.orderer.nodes) != 1:
        raise ConfigError("the embedded (solo) orderer takes exactly one orderer node")
    for chaincode in spec.chaincodes:
        for text in filter(None, (chaincode.endorsement_policy, chaincode.approval_policy)):
            try:
                parse_policy(text, peer_orgs)
            except PolicyError as exc:
                raise ConfigError(f"chaincode {chaincode.name}: policy {text!r}: {exc}") from None
    batch = spec.orderer.batch
    if not (0 < batch.max_message_count and 0 < batch.preferred_max_bytes <= batch.absolute_max_bytes and batch.batch_timeout_ms > 0):
        raise ConfigError("orderer.batch: counts, sizes and the timeout must be positive, preferred <= absolute")


# --- the on-ledger channel configuration -----------------------------------------------


class OrgDefinition(Record):
    name: str
    ca_public_key: bytes
    revoked_serials: tuple[int, ...]


class NodeDefinition(Record):
    name: str
    org: str
    role: str  # "peer" or "orderer"
    cert: bytes


class BatchParameters(Record):
    max_message_count: int
    preferred_max_bytes: int
    absolute_max_bytes: int
    batch_timeout_ms: int


class ChaincodeDefinition(Record):
    name: str
    entry_point: str
    endorsement_policy: str
    approval_policy: str
    params_json: str  # canonical JSON of the constructor parameters


class ChannelConfig(Record):
    channel: str
    sequence: int
    orgs: tuple[OrgDefinition, ...]
    nodes: tuple[NodeDefinition, ...]
    batch: BatchParameters
    chaincodes: tuple[ChaincodeDefinition, ...]

    @property
    def peer_orgs(self) -> list[str]:
        return sorted({node.org for node in self.nodes if node.role == "peer"})

    def chaincode(self, name: str) -> ChaincodeDefinition | None:
        return next((cc for cc in self.chaincodes if cc.name == name), None)


def genesis_config(block: Block) -> ChannelConfig:
    envelope = decode(block.data[0], Envelope)
    payload = decode(envelope.payload, Payload)
    assert payload.type == PayloadType.CONFIG, "block 0 must be a CONFIG block"
    return decode(payload.data, ChannelConfig)


# --- init ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitResult:
    data_dir: Path
    admin_password: str
    admin_password_generated: bool
    approver_org: str


def crypto_dir(data_dir: Path, org: str) -> Path:
    return data_dir / "crypto" / org


def admin_wallet_path(data_dir: Path, org: str) -> Path:
    return data_dir / "wallets" / org / "admin.json"


def approver_org_of(spec: NetworkSpec) -> str:
    for chaincode in spec.chaincodes:
        if "approver_org" in chaincode.params:
            return chaincode.params["approver_org"]
    return spec.organizations[-1].name


def init_network(config_path: Path, data_dir: Path, *, admin_password: str | None = None) -> InitResult:
    """Create key material and the genesis block in an empty `data_dir`."""
    spec = load_spec(config_path)
    if (data_dir / GENESIS_FILE).exists():
        raise ConfigError(f"{data_dir} already holds a network (genesis.block exists)")
    generated = admin_password is None
    password = admin_password if admin_password is not None else secrets.token_urlsafe(12)
    wallet.check_password_strength(password)
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path, data_dir / CONFIG_COPY_FILE)

    org_defs, node_defs = [], []
    for org in spec.organizations:
        ca = _new_ca(data_dir, org.name)
        org_defs.append(OrgDefinition(org.name, ca.public_key, ()))
        for peer in org.peers:
            node = ca.issue(peer, "peer")
            node.save(crypto_dir(data_dir, org.name) / f"{peer}.json")
            node_defs.append(NodeDefinition(peer, org.name, "peer", node.cert_bytes))
        for admin in org.admins:
            ca.issue(admin, "admin").save(crypto_dir(data_dir, org.name) / f"{admin}.json")
    orderer_ca = _new_ca(data_dir, spec.orderer.org)
    org_defs.append(OrgDefinition(spec.orderer.org, orderer_ca.public_key, ()))
    orderer_identity = orderer_ca.issue(spec.orderer.nodes[0], "orderer")
    orderer_identity.save(crypto_dir(data_dir, spec.orderer.org) / f"{spec.orderer.nodes[0]}.json")
    node_defs.append(NodeDefinition(spec.orderer.nodes[0], spec.orderer.org, "orderer", orderer_identity.cert_bytes))

    approver = approver_org_of(spec)
    console_admin = load_ca(data_dir, approver).issue("admin-console", "admin")
    fast = wallet.fast_kdf_for_tests()
    locked = wallet.lock(
        console_admin,
        password,
        opslimit=wallet.OPSLIMIT_MIN if fast else wallet.OPSLIMIT_DEFAULT,
        memlimit=wallet.MEMLIMIT_MIN if fast else wallet.MEMLIMIT_DEFAULT,
    )
    write_private_file(admin_wallet_path(data_dir, approver), locked.to_json())

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
    genesis = make_genesis_block(config, orderer_identity)
    write_private_file(data_dir / GENESIS_FILE, encode(genesis).hex())
    return InitResult(data_dir, password, generated, approver)


def _new_ca(data_dir: Path, org: str) -> CertificateAuthority:
    ca = CertificateAuthority.generate(org)
    write_private_file(crypto_dir(data_dir, org) / "ca.json", ca.to_json())
    return ca


def load_ca(data_dir: Path, org: str) -> CertificateAuthority:
    return CertificateAuthority.from_json((crypto_dir(data_dir, org) / "ca.json").read_text())


def load_identity(data_dir: Path, org: str, name: str) -> SigningIdentity:
    return SigningIdentity.load(crypto_dir(data_dir, org) / f"{name}.json")


def load_genesis(data_dir: Path) -> Block:
    path = data_dir / GENESIS_FILE
    if not path.exists():
        raise ConfigError(f"{data_dir} holds no network: run `gridledger init --data {data_dir}` first")
    return decode(bytes.fromhex(path.read_text()), Block)


def make_genesis_block(config: ChannelConfig, orderer: SigningIdentity) -> Block:
    from ledger.blocks import seal_block  # blocks needs Channel, which is built from this module's records

    payload = encode(Payload(PayloadType.CONFIG, config.channel, orderer.cert_bytes, encode(config)))
    envelope = encode(Envelope(payload, orderer.sign(payload)))
    metadata = BlockMetadata(bytes([ValidationCode.VALID]), commit_hash(ZERO_HASH, 0, []))
    return seal_block(0, ZERO_HASH, [envelope], orderer, metadata)


def state_url_for(spec_state: str, data_dir: Path, peer_dir_name: str) -> str:
    if spec_state == "sqlite":
        return f"sqlite:///{data_dir / 'peers' / peer_dir_name / 'state.sqlite'}"
    return spec_state.replace("{peer}", peer_dir_name.replace(".", "_").replace("-", "_").lower())

