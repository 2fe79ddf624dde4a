"""Validation codes no honest client produces, reached through a faulty orderer's queue
(the peers' validators are the guard), and the solo orderer's refusals and timeout cut."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
from netkit import Prepared, balance, broadcast_and_wait, endorse, submit

from ledger.core.codes import OrdererCode, ValidationCode
from ledger.core.encoding import decode, encode
from ledger.core.messages import Block, EndorsedTransaction, Envelope, Invocation, Payload, Proposal, ResponsePayload
from ledger.node.network import Network


def reassemble(prepared: Prepared, change: Callable[[ResponsePayload], ResponsePayload], *, invocation_change: Callable[[Invocation], Invocation] | None = None) -> bytes:
    """The prepared transaction, proposed again (optionally with a changed invocation), its
    response payload pointed at the new proposal and then changed; endorsements kept, the
    envelope signed by its genuine creator: exactly one thing is wrong."""
    gateway = prepared.gateway
    invocation = prepared.invocation if invocation_change is None else invocation_change(prepared.invocation)
    signed = gateway.propose(invocation, decode(prepared.proposal_bytes, Proposal).signoffs)
    response = decode(prepared.payload_bytes, ResponsePayload)
    response = msgspec.structs.replace(response, tx_id=decode(signed.proposal, Proposal).tx_id, proposal_hash=hashlib.sha256(signed.proposal).digest())
    outer = decode(decode(prepared.envelope, Envelope).payload, Payload)
    endorsements = decode(outer.data, EndorsedTransaction).endorsements
    body = encode(EndorsedTransaction(signed.proposal, encode(change(response)), endorsements))
    payload = encode(msgspec.structs.replace(outer, data=body))
    return encode(Envelope(payload, gateway.identity.sign(payload)))


def test_validation_codes_of_malformed_transactions_are_given_alike_by_every_peer(shared_net: Network) -> None:
    net = shared_net
    user = net.enroll("Org1", "mallory")
    submit(net, user, "userRegister", "Mallory", "MAL")
    before = balance(net, "MAL")

    def prepared() -> Prepared:
        return endorse(net, user, "userTopup", "MAL", 5)

    def other_channel() -> bytes:
        p = prepared()
        outer = decode(p.envelope, Envelope)
        payload = encode(msgspec.structs.replace(decode(outer.payload, Payload), channel="another-channel"))
        return encode(Envelope(payload, user.sign(payload)))

    cases: list[tuple[str, Callable[[], bytes], ValidationCode]] = [
        ("garbage-bytes", lambda: b"\x93not a transaction", ValidationCode.BAD_PAYLOAD),
        ("response-for-another-proposal", lambda: reassemble(prepared(), lambda r: msgspec.structs.replace(r, proposal_hash=bytes(32))), ValidationCode.BAD_PAYLOAD),
        ("foreign-channel", other_channel, ValidationCode.BAD_CHANNEL),
        ("tx-id-not-the-proposals", lambda: reassemble(prepared(), lambda r: msgspec.structs.replace(r, tx_id="0" * 64)), ValidationCode.BAD_TXID),
        (
            "chaincode-not-on-the-channel",
            lambda: reassemble(prepared(), lambda r: r, invocation_change=lambda inv: msgspec.structs.replace(inv, chaincode="no-such-chaincode")),
            ValidationCode.UNKNOWN_CHAINCODE,
        ),
        ("chaincode-refused", lambda: reassemble(prepared(), lambda r: msgspec.structs.replace(r, status=400, code="INVALID_AMOUNT")), ValidationCode.CHAINCODE_ERROR),
    ]
    held = []
    for case, make, expected in cases:
        _, code = broadcast_and_wait(net, make(), via_queue=True)  # asserts every peer gave the same flag
        assert code == expected, (case, code)
        held.append(case)
    assert held == [c[0] for c in cases]
    assert balance(net, "MAL") == before  # none of them wrote


def test_orderer_refuses_an_oversized_envelope_and_orders_nothing(shared_net: Network) -> None:
    net = shared_net
    height = net.orderer.height
    limit = net.config.batch.absolute_max_bytes
    refused = net.orderer.broadcast(b"\x00" * (limit + 1))
    assert (refused.accepted, refused.code) == (False, OrdererCode.TOO_LARGE)
    assert net.orderer.height == height


def test_a_lone_transaction_is_cut_by_the_batch_timeout(shared_net: Network) -> None:
    net = shared_net
    batch = net.config.batch
    assert batch.max_message_count > 1  # so only the timeout can cut a block of one
    user = net.enroll("Org2", "loner")
    envelope = endorse(net, user, "userRegister", "Loner", "LONE").envelope
    started = time.monotonic()
    number, code = broadcast_and_wait(net, envelope)
    waited_ms = (time.monotonic() - started) * 1000
    assert code == ValidationCode.VALID
    block = net.peers[0].block(number)
    assert len(decode(block, Block).data) == 1
    assert waited_ms >= batch.batch_timeout_ms * 0.9, (waited_ms, batch.batch_timeout_ms)


def test_a_stopped_orderer_refuses_broadcasts_as_service_unavailable(network_dir: Path) -> None:
    with Network.open(network_dir) as net:
        user = net.enroll("Org1", "late")
        envelope = endorse(net, user, "userRegister", "Late", "LATE").envelope
        net.orderer.stop()
        refused = net.orderer.broadcast(envelope)
        assert (refused.accepted, refused.code) == (False, OrdererCode.SERVICE_UNAVAILABLE)
