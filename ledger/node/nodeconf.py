"""One node's own configuration: `node.json` in the node's directory.

A networked node (a NATS server, an orderer, a peer or the console) is started from its
directory alone (`gridledger node run --home NODE_DIR`), so everything it needs besides
its own key material is named here, with paths relative to that directory. The file holds
no secret: the private key is in `identity.json`, the NATS credentials in `nats.nk`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from ledger.core.errors import ConfigError

NODE_CONFIG_FILE = "node.json"
NATS_SEED_FILE = "nats.nk"

NodeKind = Literal["nats", "orderer", "peer", "console"]


class NatsClientConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How this node reaches the NATS cluster."""

    urls: list[str]
    nkey_seed_file: str = NATS_SEED_FILE  # relative to the node directory
    tls_ca_file: str | None = None  # PEM bundle of the organizations' TLS CAs; None = plain
    tls_cert_file: str | None = None  # the node's own TLS client certificate (with tls_ca_file)
    tls_key_file: str | None = None


class NodeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`node.json`: written at init, read by `node run`."""

    name: str  # e.g. "peer0.Org1", "orderer1.OrdererOrg", "nats0"
    org: str
    kind: NodeKind
    channel: str
    nats: NatsClientConfig | None = None  # None for kind "nats" itself
    identity_file: str = "identity.json"  # the node's own signing identity (not for nats)
    genesis_file: str = "genesis.block"
    state_url: str | None = None  # peers: SQLAlchemy URL; None = SQLite in the node dir
    health_host: str = "127.0.0.1"
    health_port: int = 0  # 0 = no health endpoint
    server_config_file: str | None = None  # kind "nats": the nats-server config (JSON)
    console_host: str | None = None  # kind "console"
    console_port: int | None = None


def node_config_path(home: Path) -> Path:
    return home / NODE_CONFIG_FILE


def write_node_config(home: Path, config: NodeConfig) -> None:
    home.mkdir(parents=True, exist_ok=True)
    node_config_path(home).write_bytes(msgspec.json.format(msgspec.json.encode(config)))


def load_node_config(home: Path) -> NodeConfig:
    """Read `node.json`, naming the directory and the field at fault."""
    path = node_config_path(home)
    try:
        return msgspec.json.decode(path.read_bytes(), type=NodeConfig)
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"{home} is not a node directory: {NODE_CONFIG_FILE} is missing") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
