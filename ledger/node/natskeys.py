"""NATS credentials of a node: one nkey (an Ed25519 user key in NATS's encoding) each.

The seed stays in the node's directory (`nats.nk`, owner-only); the public key (`U...`)
goes into the organization's public file and from there into every NATS server's user
list with that node's permissions (`ledger.node.natsconf`).
"""

from __future__ import annotations

import os
from pathlib import Path

import nkeys

from ledger.core.errors import ConfigError
from ledger.core.identity import write_private_file

NKEY_SEED_BYTES = 32


def generate_user_seed() -> bytes:
    """A fresh user nkey seed (`SU...`)."""
    return bytes(nkeys.encode_seed(os.urandom(NKEY_SEED_BYTES), nkeys.PREFIX_BYTE_USER))


def public_key(seed: bytes) -> str:
    """The `U...` public key the servers list for the holder of `seed`."""
    try:
        return str(nkeys.from_seed(bytearray(seed)).public_key.decode())
    except nkeys.NkeysError as exc:
        raise ConfigError(f"not a NATS user seed: {exc!r}") from None


def write_seed(path: Path, seed: bytes) -> str:
    """Write the seed owner-only; return its public key."""
    key = public_key(seed)
    write_private_file(path, seed.decode() + "\n")
    return key


def read_public_key(path: Path) -> str:
    try:
        return public_key(path.read_bytes().strip())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the node's NATS seed: {exc}") from None
