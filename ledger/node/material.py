"""Reading a network directory's stored material: CAs, node and admin identities, genesis.

Why apart from `init`, which writes them: every node process and CLI call reads them, and
init's writers pull in the certificate, NATS-key and network-file machinery that a reader
never needs (a node starts ~0.1 s sooner without it).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ledger.core.encoding import decode
from ledger.core.errors import ConfigError
from ledger.core.identity import CertificateAuthority, SigningIdentity
from ledger.core.messages import Block
from ledger.node.layout import GENESIS_FILE, NetworkLayout


def load_ca(layout: NetworkLayout, org: str) -> CertificateAuthority:
    path = layout.ca_file(org)
    if not path.exists():
        raise ConfigError(f"organization {org!r} has no CA in {layout.org_dir(org)}", code="UNKNOWN_USER")
    return CertificateAuthority.from_json(path.read_text())


def home_org(layout: NetworkLayout, preferred: str, orgs: list[str]) -> str:
    """The organization a bare CLI user name (`--as alice`, the query default `cli-reader`)
    belongs to in this directory: `preferred` (the console organization) when its CA is
    here, else the one organization of `orgs` whose CA is here, else `preferred`.

    Why: a member's own DATA (`org create` + `node configure`) holds only its own CA. The
    CLI put a bare name in the console organization (Org1) everywhere, so from Regulator's
    or Org2's DATA `query queryUser A` (as `cli-reader`) and `invoke --as bob ...` were
    UNKNOWN_USER "organization 'Org1' has no CA": no CLI user could be made there. An
    `init` directory holds every CA, so it keeps the console organization."""
    if layout.ca_file(preferred).exists():
        return preferred
    held = [org for org in orgs if layout.ca_file(org).exists()]
    return held[0] if len(held) == 1 else preferred


def load_node_identity(layout: NetworkLayout, node_id: str) -> SigningIdentity:
    path = layout.node_identity_file(node_id)
    if not path.exists():
        raise ConfigError(f"node {node_id} has no identity at {path}")
    return SigningIdentity.load(path)


def load_admin(layout: NetworkLayout, org: str, name: str = "admin") -> SigningIdentity:
    path = layout.admin_file(org, name)
    if not path.exists():
        raise ConfigError(f"organization {org!r} has no administrator {name!r} in this directory", code="UNKNOWN_USER")
    return SigningIdentity.load(path)


def load_genesis(layout: NetworkLayout) -> Block:
    """The genesis block file, decoded strictly (any damaged byte is refused or changes its hash)."""
    path = layout.genesis_file
    if not path.exists():
        raise no_genesis_error(layout)
    return read_genesis(path)


def no_genesis_error(layout: NetworkLayout) -> ConfigError:
    """What a directory without genesis.block is: NO_NETWORK when it holds no organization
    (run init), GENESIS_MISSING when it holds a network's organizations but lost the block.
    Why two codes: "run init" is wrong advice for the second, where init refuses the
    directory (its organizations exist) and `up` used to try it and say INIT_FAILED; what
    mends it is the block copied back (a networked node keeps a copy)."""
    if not any(layout.orgs_dir.glob("*/*")):  # a network file alone is what a refused init may leave: init again
        return ConfigError(f"{layout.root} holds no network: run `gridledger init --data {layout.root}` first", code="NO_NETWORK")
    copy = next(iter(sorted(layout.orgs_dir.glob(f"*/nodes/*/{GENESIS_FILE}"))), None)
    mend = f"copy it back from a node directory, e.g. `cp {copy} {layout.genesis_file}`" if copy else "restore it from the channel's copy or a backup"
    return ConfigError(f"{layout.genesis_file} is missing, but {layout.root} holds a network's organizations: {mend}", code="GENESIS_MISSING")


def read_genesis(path: Path) -> Block:
    """A genesis block file (the network's, or a node directory's copy), decoded strictly."""
    try:
        return decode(path.read_bytes(), Block)
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: the genesis block is copied into every node directory at init", code="NO_NETWORK") from None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path} is damaged: {exc}") from None
