"""The data directory: where every file of a network lives, defined once.

```
DATA/
  network.yaml                      the network file it was made from
  genesis.block                     block 0: the channel configuration (public)
  run/                              this machine's runtime: network.lock, supervisor.lock, <node>.pid
  nats-routes.secret                `node configure`: the NATS servers' shared route secret (private)
  orgs/<Org>/                       one organization's own material
    org.json                        public: CA public key and node certificates
    ca.json                         the org CA's private key (never leaves the org)
    admins/<name>.json              administrator identities
    users/<name>.json               CLI users' identities (made on first use)
    apps/<chaincode>/               private files a chaincode's tools keep for the org (device keys)
    tls-ca.key, tls-ca.pem          the org's X.509 CA for NATS TLS (networked, key private)
    nodes/<node>.<Org>/             one node: what runs on that node's machine
      identity.json                 the node's own key and certificate, nothing else private
      blocks/                       block files (peers and orderers)
      state.sqlite                  a peer's world state (SQLite)
      node.json                     networked: the node's configuration (NodeConfig)
      nats.nk                       networked: the node's own NATS nkey seed
      genesis.block                 networked: a copy of block 0 (public)
      tls/ca.pem, node.pem, node.key  networked with TLS: every org's TLS CA, own cert and key
      nats-server.json, jetstream/  networked, kind nats: the server's config and store
      node.pid                      networked: pid of the running node
      node.lock                     networked: flock held by the running node (one process per directory)
      console.address               networked, kind console: where the running console listens (`node run --host/--port`)
  console/                          the web console's own: database, secrets, datasets, wallets
  bench/                            the latest `gridledger bench --report` of this network (report.json, report.html, SVGs)
```
`gridledger org create --out DIR` makes one organization's directory (`OrgLayout`) on its
own, laid out like `orgs/<Org>/` above.
Nothing else in the code spells out a path under DATA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.core.errors import ConfigError

NETWORK_FILE = "network.yaml"
GENESIS_FILE = "genesis.block"
ORG_PUBLIC_FILE = "org.json"
CA_FILE = "ca.json"
IDENTITY_FILE = "identity.json"
LOCK_FILE = "network.lock"
SUPERVISOR_LOCK_FILE = "supervisor.lock"
ROUTE_SECRET_FILE = "nats-routes.secret"


TLS_CA_KEY_FILE = "tls-ca.key"
TLS_CA_CERT_FILE = "tls-ca.pem"


@dataclass(frozen=True, slots=True)
class OrgLayout:
    """Paths of one organization's directory (`orgs/<Org>/`, or `org create --out DIR`)."""

    root: Path

    @property
    def public_file(self) -> Path:
        return self.root / ORG_PUBLIC_FILE

    @property
    def ca_file(self) -> Path:
        return self.root / CA_FILE

    @property
    def tls_ca_key_file(self) -> Path:
        return self.root / TLS_CA_KEY_FILE

    @property
    def tls_ca_cert_file(self) -> Path:
        return self.root / TLS_CA_CERT_FILE

    def admin_file(self, name: str) -> Path:
        return self.root / "admins" / f"{name}.json"

    def user_file(self, name: str) -> Path:
        return self.root / "users" / f"{name}.json"

    @property
    def nodes_dir(self) -> Path:
        return self.root / "nodes"

    def node_dir(self, node_id: str) -> Path:
        return self.nodes_dir / node_id


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """Paths inside one node's directory (the `--home` of `gridledger node run`)."""

    home: Path

    @property
    def identity_file(self) -> Path:
        return self.home / IDENTITY_FILE

    @property
    def genesis_file(self) -> Path:
        return self.home / GENESIS_FILE

    @property
    def blocks_dir(self) -> Path:
        return self.home / "blocks"

    @property
    def state_sqlite(self) -> Path:
        return self.home / "state.sqlite"

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    @property
    def tls_ca_bundle(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def tls_cert(self) -> Path:
        return self.tls_dir / "node.pem"

    @property
    def tls_key(self) -> Path:
        return self.tls_dir / "node.key"

    @property
    def nats_server_config(self) -> Path:
        return self.home / "nats-server.json"

    @property
    def jetstream_dir(self) -> Path:
        return self.home / "jetstream"

    @property
    def pid_file(self) -> Path:
        return self.home / "node.pid"

    @property
    def lock_file(self) -> Path:
        return self.home / "node.lock"

    @property
    def console_address_file(self) -> Path:
        return self.home / "console.address"

    @property
    def log_file(self) -> Path:
        return self.home / "node.log"


@dataclass(frozen=True, slots=True)
class NetworkLayout:
    """Paths of one network directory."""

    root: Path

    @property
    def network_file(self) -> Path:
        return self.root / NETWORK_FILE

    @property
    def genesis_file(self) -> Path:
        return self.root / GENESIS_FILE

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / LOCK_FILE

    @property
    def route_secret_file(self) -> Path:
        """`node configure`: the route secret this member's NATS servers share with the others'."""
        return self.root / ROUTE_SECRET_FILE

    @property
    def supervisor_lock_file(self) -> Path:
        """Networked: flock held by the one supervisor (`up --networked`) of this directory."""
        return self.run_dir / SUPERVISOR_LOCK_FILE

    def pid_file(self, node_id: str) -> Path:
        return self.run_dir / f"{node_id}.pid"

    # --- organizations --------------------------------------------------------------------

    @property
    def orgs_dir(self) -> Path:
        return self.root / "orgs"

    def org_dir(self, org: str) -> Path:
        return self.orgs_dir / org

    def org(self, org: str) -> OrgLayout:
        return OrgLayout(self.org_dir(org))

    def org_public_file(self, org: str) -> Path:
        return self.org_dir(org) / ORG_PUBLIC_FILE

    def ca_file(self, org: str) -> Path:
        return self.org_dir(org) / CA_FILE

    def admin_file(self, org: str, name: str) -> Path:
        return self.org_dir(org) / "admins" / f"{name}.json"

    def user_file(self, org: str, name: str) -> Path:
        return self.org_dir(org) / "users" / f"{name}.json"

    def app_dir(self, org: str, chaincode: str) -> Path:
        """Private files a chaincode's own tools keep for `org` (e.g. the keys of devices it enrolls)."""
        return self.org_dir(org) / "apps" / chaincode

    # --- nodes ----------------------------------------------------------------------------

    def node_dir(self, node_id: str) -> Path:
        """`node_id` is `name.Org`: the node's directory sits in its organization's."""
        _, _, org = node_id.partition(".")
        return self.org(org).node_dir(node_id)

    def node(self, node_id: str) -> NodeLayout:
        return NodeLayout(self.node_dir(node_id))

    def node_identity_file(self, node_id: str) -> Path:
        return self.node_dir(node_id) / IDENTITY_FILE

    def blocks_dir(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "blocks"

    def state_sqlite(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "state.sqlite"

    def state_url(self, template: str, node_id: str) -> str:
        """The state database URL of a peer: its SQLite file, or the template with {peer}."""
        if template == "sqlite":
            return f"sqlite:///{self.state_sqlite(node_id)}"
        return template.replace("{peer}", node_id.replace(".", "_").replace("-", "_").lower())

    # --- the console ----------------------------------------------------------------------

    @property
    def console_dir(self) -> Path:
        return self.root / "console"

    def console_admin_wallet(self, org: str) -> Path:
        return self.console_dir / "wallets" / org / "admin.json"

    @property
    def console_db(self) -> Path:
        return self.console_dir / "console.sqlite"

    @property
    def csrf_secret_file(self) -> Path:
        return self.console_dir / "csrf.secret"

    @property
    def datasets_dir(self) -> Path:
        return self.console_dir / "datasets"

    @property
    def bench_dir(self) -> Path:
        """Where `gridledger bench --report` leaves a copy of its latest report (the console's /bench)."""
        return self.root / "bench"

    @property
    def dataset_key_file(self) -> Path:
        return self.console_dir / "dataset.key"


def make_directory(path: Path, what: str) -> None:
    """`mkdir -p` whose failure (a file in the way, a parent missing or read-only) is a
    ConfigError naming the path, raised before anything is written there; it was an
    INTERNAL_ERROR ("FileExistsError: [Errno 17] File exists") of init, up and org create."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{path}: cannot make {what} there ({error.strerror or error}): give a directory path, or a new one") from None
