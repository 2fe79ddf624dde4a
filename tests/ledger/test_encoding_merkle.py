"""Canonical encoding and the Merkle tree over a block's transactions."""

from __future__ import annotations

import msgspec
import pytest

from ledger.core.encoding import decode, encode, merkle_path, merkle_root, sha256, verify_merkle_path
from ledger.core.messages import Invocation, KVRead, KVWrite, ReadWriteSet, compute_tx_id

PINNED_INVOCATION_HEX = (
    "95ab677269646368616e6e656ca9706f77657264617461a975736572546f70757092a141a23130"
    "c418010101010101010101010101010101010101010101010101"
)
PINNED_TX_ID = "800119c6be1c8657877266a3bb3265a9be01eb767bcd81f57d21eb90fe333626"


def invocation(args: tuple[str, ...] = ("A", "10"), nonce: bytes = b"\x01" * 24) -> Invocation:
    return Invocation("gridchannel", "powerdata", "userTopup", args, nonce)


def test_same_record_encodes_to_pinned_bytes_and_round_trips() -> None:
    # Pinned: if the canonical bytes ever drift, every stored signature and tx id breaks.
    assert encode(invocation()).hex() == PINNED_INVOCATION_HEX
    assert encode(invocation()) == encode(invocation())
    assert decode(encode(invocation()), Invocation) == invocation()
    assert compute_tx_id(invocation()) == PINNED_TX_ID


@pytest.mark.parametrize(
    "changed",
    [invocation(args=("A", "11")), invocation(args=("B", "10")), invocation(nonce=b"\x02" * 24)],
    ids=["amount", "user", "nonce"],
)
def test_any_change_to_the_invocation_changes_the_tx_id(changed: Invocation) -> None:
    assert compute_tx_id(changed) != PINNED_TX_ID


def test_rwset_encoding_is_positional_and_decoding_refuses_junk() -> None:
    rwset = ReadWriteSet((KVRead("k", (3, 1)), KVRead("n", None)), (), (KVWrite("k", b"v", False),))
    assert decode(encode(rwset), ReadWriteSet) == rwset
    assert encode(rwset)[:1] == b"\x93"  # a 3-element msgpack array, not a map
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode(b"\xa3abc", ReadWriteSet)


def leaves(n: int) -> list[bytes]:
    return [f"tx-{i}".encode() for i in range(n)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 13])
def test_merkle_path_of_every_leaf_verifies_including_odd_counts(count: int) -> None:
    root = merkle_root(leaves(count))
    for index, leaf in enumerate(leaves(count)):
        path = merkle_path(leaves(count), index)
        assert verify_merkle_path(leaf, path, root), (count, index)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_tampered_leaf_fails_its_path_and_changes_the_root(count: int) -> None:
    root = merkle_root(leaves(count))
    for index in range(count):
        tampered = leaves(count)
        tampered[index] = tampered[index] + b"!"
        assert merkle_root(tampered) != root
        assert not verify_merkle_path(tampered[index], merkle_path(leaves(count), index), root)


def test_merkle_root_depends_on_order_and_separates_leaves_from_inner_nodes() -> None:
    a, b = b"a", b"b"
    assert merkle_root([a, b]) != merkle_root([b, a])
    assert merkle_root([]) == sha256(b"\x00")
    assert merkle_root([a]) == sha256(b"\x00" + a)
    # An inner node passed off as a single leaf must not reproduce the root.
    inner = sha256(b"\x00" + a)[:0] + sha256(b"\x01" + sha256(b"\x00" + a) + sha256(b"\x00" + b))
    assert merkle_root([a, b]) == inner
    assert merkle_root([inner]) != merkle_root([a, b])


def test_path_for_wrong_root_or_wrong_index_fails() -> None:
    items = leaves(6)
    path = merkle_path(items, 2)
    assert not verify_merkle_path(items[2], path, merkle_root(leaves(7)))
    assert not verify_merkle_path(items[3], path, merkle_root(items))
