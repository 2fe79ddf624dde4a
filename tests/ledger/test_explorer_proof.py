"""Explorer views and Merkle inclusion proofs over a real committed block."""

from __future__ import annotations

import pytest
from netkit import block_of, endorse, outcomes, submit

from ledger.core.encoding import verify_merkle_path
from ledger.node.network import Network
from ledger.tools.explorer import describe_block, describe_transaction, inclusion_proof


def proof_path(proof: dict) -> list[tuple[bytes, bool]]:
    return [(bytes.fromhex(step["sibling"]), step["left"]) for step in proof["path"]]


@pytest.fixture(scope="module")
def block_of_three(shared_net: Network):  # type: ignore[no-untyped-def]
    net = shared_net
    users = [net.enroll("Org1", f"ex{i}") for i in range(3)]
    for i, user in enumerate(users):
        submit(net, user, "userRegister", f"ex {i}", f"EX{i}")
    prepared = [endorse(net, user, "userTopup", f"EX{i}", 5 + i) for i, user in enumerate(users)]
    futures = [prepared[0].gateway.waiter.expect(p.tx_id) for p in prepared]
    for p in prepared:
        assert net.orderer.broadcast(p.envelope).accepted
    results = outcomes(net, futures)
    assert len({number for number, _ in results}) == 1, "the three top-ups should share a block"
    return block_of(net.peers[0], results[0][0]), prepared


def test_inclusion_proof_of_every_transaction_verifies_against_the_header(block_of_three) -> None:  # type: ignore[no-untyped-def]
    block, _ = block_of_three
    assert len(block.data) == 3
    for tx_num, envelope in enumerate(block.data):
        proof = inclusion_proof(block, tx_num)
        assert proof["data_hash"] == block.header.data_hash.hex()
        assert verify_merkle_path(envelope, proof_path(proof), bytes.fromhex(proof["data_hash"]))


def test_modified_transaction_fails_its_inclusion_proof(block_of_three) -> None:  # type: ignore[no-untyped-def]
    block, _ = block_of_three
    proof = inclusion_proof(block, 1)
    tampered = bytearray(block.data[1])
    tampered[len(tampered) // 2] ^= 0xFF
    assert not verify_merkle_path(bytes(tampered), proof_path(proof), block.header.data_hash)
    assert not verify_merkle_path(block.data[0], proof_path(proof), block.header.data_hash)  # another tx, wrong position


def test_describe_block_shows_transactions_codes_and_signers(block_of_three) -> None:  # type: ignore[no-untyped-def]
    block, prepared = block_of_three
    view = describe_block(block)
    assert (view["tx_count"], view["valid_count"]) == (3, 3)
    assert view["orderer"] == "OrdererOrg/orderer0"
    assert [t["tx_id"] for t in view["transactions"]] == [p.tx_id for p in prepared]
    first = describe_transaction(block, 0)
    assert (first["code"], first["function"], first["args"], first["creator"]) == ("VALID", "userTopup", ["EX0", "5"], "Org1/ex0")
    assert sorted(e.split("/")[0] for e in first["endorsers"]) == ["Org1", "Org2"]
    assert {s["kind"] for s in first["signoffs"]} == {"party", "approval"}
    assert [w["key"] for w in first["writes"]] == ["powerdata/user/EX0"]
