"""Canonical encoding and hashing: the one way bytes are made for anything hashed or signed.

Every record that is hashed or signed is a frozen, array-like msgspec Struct: fields are
encoded in declaration order as a msgpack array, there are no floats and no maps, so the
same record always yields the same bytes on every node.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_ENCODER = msgspec.msgpack.Encoder()


class Record(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Base of every hashed or signed record: frozen, positional, canonical."""


def encode(record: Any) -> bytes:
    """Canonical bytes of a record (msgpack, fields in declaration order)."""
    return _ENCODER.encode(record)


_DECODERS: dict[type, msgspec.msgpack.Decoder[Any]] = {}


def decode(data: bytes, record_type: type[T]) -> T:
    """Decode bytes made by `encode`; raises msgspec.DecodeError / ValidationError on junk."""
    decoder = _DECODERS.get(record_type)
    if decoder is None:
        decoder = _DECODERS[record_type] = msgspec.msgpack.Decoder(record_type)
    value: T = decoder.decode(data)
    return value


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """Merkle root over leaf hashes (sha256 of each leaf's bytes); odd nodes are paired with themselves.

    Leaves and inner nodes are domain-separated (0x00 / 0x01 prefixes) so that an inner
    node can never be passed off as a leaf.
    """
    if not leaves:
        return sha256(b"\x00")
    level = [sha256(b"\x00" + leaf) for leaf in leaves]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def merkle_path(leaves: list[bytes], index: int) -> list[tuple[bytes, bool]]:
    """The sibling hashes proving leaf `index`; each entry is (sibling, sibling_is_left)."""
    assert 0 <= index < len(leaves), "leaf index out of range"
    level = [sha256(b"\x00" + leaf) for leaf in leaves]
    path: list[tuple[bytes, bool]] = []
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        sibling = index ^ 1
        path.append((level[sibling], sibling < index))
        level = [sha256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return path


def verify_merkle_path(leaf: bytes, path: list[tuple[bytes, bool]], root: bytes) -> bool:
    """True when `leaf` is included under `root` by `path` (from `merkle_path`)."""
    node = sha256(b"\x00" + leaf)
    for sibling, sibling_is_left in path:
        node = sha256(b"\x01" + sibling + node) if sibling_is_left else sha256(b"\x01" + node + sibling)
    return node == root
