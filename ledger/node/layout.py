"""The data directory: where every file of a network lives, defined once.

```
DATA/
  network.yaml                      the network file it was made from
  genesis.block                     block 0: the channel configuration (public)
  run/                              this machine's runtime: network.lock, <node>.pid
  orgs/<Org>/                       one organization's own material
    org.json                        public: CA public key and node certificates
    ca.json                         the org CA's private key (never leaves the org)
    admins/<name>.json              administrator identities
    users/<name>.json               CLI users' identities (made on first use)
    nodes/<node>.<Org>/             one node: what runs on that node's machine
      identity.json                 the node's own key and certificate, nothing else private
      blocks/                       block files (peers and orderers)
      state.sqlite                  a peer's world state (SQLite)
  console/                          the web console's own: database, secrets, datasets, wallets
```
Nothing else in the code spells out a path under DATA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NETWORK_FILE = "network.yaml"
GENESIS_FILE = "genesis.block"
ORG_PUBLIC_FILE = "org.json"
CA_FILE = "ca.json"
IDENTITY_FILE = "identity.json"
LOCK_FILE = "network.lock"


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

    def pid_file(self, node_id: str) -> Path:
        return self.run_dir / f"{node_id}.pid"

    # --- organizations --------------------------------------------------------------------

    @property
    def orgs_dir(self) -> Path:
        return self.root / "orgs"

    def org_dir(self, org: str) -> Path:
        return self.orgs_dir / org

    def org_public_file(self, org: str) -> Path:
        return self.org_dir(org) / ORG_PUBLIC_FILE

    def ca_file(self, org: str) -> Path:
        return self.org_dir(org) / CA_FILE

    def admin_file(self, org: str, name: str) -> Path:
        return self.org_dir(org) / "admins" / f"{name}.json"

    def user_file(self, org: str, name: str) -> Path:
        return self.org_dir(org) / "users" / f"{name}.json"

    # --- nodes ----------------------------------------------------------------------------

    def node_dir(self, node_id: str) -> Path:
        """`node_id` is `name.Org`: the node's directory sits in its organization's."""
        _, _, org = node_id.partition(".")
        return self.org_dir(org) / "nodes" / node_id

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
    def dataset_key_file(self) -> Path:
        return self.console_dir / "dataset.key"
