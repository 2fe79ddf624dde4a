"""Attacks on the ledger, each refused with its code and leaving the state unchanged.

Envelopes are built by hand with the gateway's own steps (see netkit.endorse), changing one
thing each: the creator's signature, the endorsements, the approval, the creator's CA.
Every test uses its own user ids, so they share one network.
"""

from __future__ import annotations

import itertools

import pytest
from netkit import balance, block_of, broadcast_and_wait, endorse, flags_of, meta, outcomes, query, submit, wait_in_sync

from chaincode.power_data.contract import PowerDataContract
from ledger.core.channel import Channel
from ledger.core.codes import ValidationCode
from ledger.core.encoding import decode, encode, merkle_root
from ledger.core.identity import CertificateAuthority, SigningIdentity, now_ms
from ledger.core.messages import (
    Block,
    BlockHeader,
    BlockMetadata,
    EndorsedTransaction,
    Endorsement,
    Envelope,
    OrdererSignature,
    Payload,
    PayloadType,
    Proposal,
    ProposalResponse,
    SignedProposal,
    Signoff,
    block_hash,
    compute_tx_id,
)
from ledger.execute.chaincode_api import VerifiedSignoff
from ledger.execute.endorser import CheckedProposal, EndorserRefusal
from ledger.gateway import EndorsementError, creator_party, make_signoff
from ledger.node.network import Network
from ledger.tools.verify import verify_network
from ledger.validate.validator import Validator

V = ValidationCode
_ids = itertools.count()


def new_user(net: Network, org: str = "Org1", tokens: int = 0) -> tuple[SigningIdentity, str]:
    """A registered (and topped-up) user with a fresh id."""
    uid = f"u{next(_ids)}"
    identity = net.enroll(org, uid)
    submit(net, identity, "userRegister", f"user {uid}", uid)
    if tokens:
        submit(net, identity, "userTopup", uid, tokens)
    return identity, uid


def with_envelope_signature(envelope: bytes, signature: bytes) -> bytes:
    outer = decode(envelope, Envelope)
    return encode(Envelope(outer.payload, signature))


# --- forged creator signature ----------------------------------------------------------


def test_forged_creator_signature_is_refused_by_the_orderer_and_marked_by_validators(shared_net: Network) -> None:
    net = shared_net
    victim, uid = new_user(net, tokens=5)
    mallory = net.enroll("Org1", f"mallory{next(_ids)}")
    genuine = endorse(net, victim, "userTopup", uid, 1000)
    payload = decode(genuine.envelope, Envelope).payload
    forged = with_envelope_signature(genuine.envelope, mallory.sign(payload))

    refusal = net.orderer.broadcast(forged)
    assert (refusal.accepted, refusal.code) == (False, "BAD_CREATOR_SIGNATURE")

    # A fresh validator given a block holding it (next to a genuine transaction) marks it.
    other = endorse(net, victim, "userTopup", uid, 1)
    data = (forged, other.envelope)
    peer = net.peers[0]
    last = block_of(peer, peer.height - 1)
    header = BlockHeader(peer.height, block_hash(last.header), merkle_root(list(data)), now_ms())
    block = Block(header, data, OrdererSignature(b"", b""), BlockMetadata(b"", b""))
    result = Validator(Channel(net.config)).validate(block, peer.state)
    assert result.codes == [V.BAD_CREATOR_SIGNATURE, V.VALID]
    assert [tx.tx_id for tx in result.valid] == [other.tx_id]

    # And the real peers, when an orderer lets it through, mark it too and apply nothing.
    _, code = broadcast_and_wait(net, forged, via_queue=True)
    assert code == V.BAD_CREATOR_SIGNATURE
    assert balance(net, uid) == 5
    wait_in_sync(net)


# --- endorsement policy ----------------------------------------------------------------


@pytest.mark.parametrize(
    "endorsing_peers",
    [("peer0.Org1",), ("peer0.Org1", "peer1.Org1"), ("peer1.Org2",)],
    ids=["only-org1", "both-org1-peers", "only-org2"],
)
def test_endorsement_missing_for_the_and_policy_is_endorsement_policy_failure(shared_net: Network, endorsing_peers: tuple[str, ...]) -> None:
    net = shared_net
    user, uid = new_user(net, tokens=7)
    peers = [p for p in net.peers if p.name in endorsing_peers]
    prepared = endorse(net, user, "userTopup", uid, 50, peers=peers)
    _, code = broadcast_and_wait(net, prepared.envelope)
    assert code == V.ENDORSEMENT_POLICY_FAILURE
    assert balance(net, uid) == 7


def test_endorsement_signature_over_a_different_response_does_not_count(shared_net: Network) -> None:
    net = shared_net
    user, uid = new_user(net, tokens=7)
    prepared = endorse(net, user, "userTopup", uid, 50)
    transaction = decode(decode(decode(prepared.envelope, Envelope).payload, Payload).data, EndorsedTransaction)
    assert sum(b"Org2" in e.endorser for e in transaction.endorsements) == 1
    # Keep the endorsers, but Org2's signature is one it made over another response.
    other = endorse(net, user, "userTopup", uid, 51)
    other_tx = decode(decode(decode(other.envelope, Envelope).payload, Payload).data, EndorsedTransaction)
    swapped = tuple(next(o for o in other_tx.endorsements if o.endorser == e.endorser) if b"Org2" in e.endorser else e for e in transaction.endorsements)
    rebuilt = EndorsedTransaction(transaction.proposal, transaction.response_payload, swapped)
    envelope = resign(user, decode(prepared.envelope, Envelope), rebuilt)
    _, code = broadcast_and_wait(net, envelope)
    assert code == V.ENDORSEMENT_POLICY_FAILURE
    assert balance(net, uid) == 7


def resign(creator: SigningIdentity, envelope: Envelope, transaction: EndorsedTransaction) -> bytes:
    payload = decode(envelope.payload, Payload)
    new_payload = encode(Payload(payload.type, payload.channel, payload.creator, encode(transaction)))
    return encode(Envelope(new_payload, creator.sign(new_payload)))


# --- replay ----------------------------------------------------------------------------


def test_same_envelope_twice_in_one_block_and_again_later_is_duplicate_txid(shared_net: Network) -> None:
    net = shared_net
    user, uid = new_user(net, tokens=10)
    prepared = endorse(net, user, "userTopup", uid, 5)
    waiter = prepared.gateway.waiter
    future = waiter.expect(prepared.tx_id)
    assert net.orderer.broadcast(prepared.envelope).accepted
    assert net.orderer.broadcast(prepared.envelope).accepted
    ((number, code),) = outcomes(net, [future])
    assert code == V.VALID
    block = block_of(net.peers[0], number)
    positions = [i for i, env in enumerate(block.data) if env == prepared.envelope]
    assert len(positions) == 2, "both copies should be cut into the same block"
    flags = flags_of(net, number)
    assert [flags[i] for i in positions] == [V.VALID, V.DUPLICATE_TXID]
    assert balance(net, uid) == 15

    # Replayed in a later block: refused again; and endorsers refuse to endorse it again.
    later, code = broadcast_and_wait(net, prepared.envelope)
    assert (later > number, code) == (True, V.DUPLICATE_TXID)
    assert balance(net, uid) == 15
    proposal = decode(decode(decode(prepared.envelope, Envelope).payload, Payload).data, EndorsedTransaction).proposal
    with pytest.raises(EndorserRefusal) as caught:
        net.peers[0].endorse(encode(SignedProposal(proposal, user.sign(proposal)))).result()
    assert caught.value.code == "DUPLICATE_TXID"


# --- MVCC ------------------------------------------------------------------------------


def test_two_purchases_of_one_balance_in_a_block_second_is_mvcc_read_conflict(shared_net: Network) -> None:
    net = shared_net
    seller, sid = new_user(net)
    buyer, bid = new_user(net, "Org2", tokens=100)
    for asset in ("X1", "X2"):
        submit(net, seller, "assetsEnroll", asset, f"{sid}-{asset}", meta(f"{sid} {asset}"), sid, 60)
    # Both endorsed against a balance of 100: each alone is affordable.
    first = endorse(net, buyer, "assetsExchange", f"{sid}-X1", sid, bid)
    second = endorse(net, buyer, "assetsExchange", f"{sid}-X2", sid, bid)
    futures = [first.gateway.waiter.expect(p.tx_id) for p in (first, second)]
    for prepared in (first, second):
        assert net.orderer.broadcast(prepared.envelope).accepted
    results = outcomes(net, futures)
    assert results[0][0] == results[1][0], "both purchases should be in one block"
    assert [code for _, code in results] == [V.VALID, V.MVCC_READ_CONFLICT]
    assert balance(net, bid) == 40 and balance(net, sid) == 60
    assert query(net, "queryUser", bid)["Assets"] == [f"{sid}-X1"]
    # Re-submitted, the second purchase is now refused at endorsement: the balance never goes negative.
    with pytest.raises(EndorsementError) as caught:
        submit(net, buyer, "assetsExchange", f"{sid}-X2", sid, bid)
    assert caught.value.code == "INSUFFICIENT_BALANCE"
    assert balance(net, bid) == 40


# --- phantom reads ---------------------------------------------------------------------


@pytest.mark.parametrize("same_block", [False, True], ids=["earlier-block", "same-block"])
def test_report_whose_history_scan_gains_an_entry_before_commit_is_phantom_read_conflict(shared_net: Network, same_block: bool) -> None:
    """assetsReport range-scans the original's history; a transfer of the original adds a key in that range."""
    net = shared_net
    publisher, pid = new_user(net)
    copier, cid = new_user(net, tokens=50)
    holder, hid = new_user(net, "Org2", tokens=50)
    newcomer, nid = new_user(net, "Org2", tokens=50)
    original, copy = f"{pid}-orig", f"{cid}-copy"
    submit(net, publisher, "assetsEnroll", "orig", original, meta(original), pid, 10)
    submit(net, copier, "assetsExchange", original, pid, cid)
    submit(net, holder, "assetsExchange", original, pid, hid)
    submit(net, copier, "assetsEnroll", "mine", copy, meta(copy + " relabelled"), cid, 10)

    report = endorse(net, publisher, "assetsReport", original, copy, pid)
    transfer = endorse(net, newcomer, "assetsExchange", original, hid, nid, cosign=(holder,))
    if same_block:
        futures = [report.gateway.waiter.expect(p.tx_id) for p in (transfer, report)]
        for prepared in (transfer, report):
            assert net.orderer.broadcast(prepared.envelope).accepted
        (transfer_block, transfer_code), (report_block, report_code) = outcomes(net, futures)
        assert transfer_block == report_block
    else:
        _, transfer_code = broadcast_and_wait(net, transfer.envelope)
        _, report_code = broadcast_and_wait(net, report.envelope)
    assert (transfer_code, report_code) == (V.VALID, V.PHANTOM_READ_CONFLICT)
    assert query(net, "queryAsset", copy)["IsValid"] is True
    # Submitted again against the new history, the report is upheld.
    submit(net, publisher, "assetsReport", original, copy, pid)
    assert query(net, "queryAsset", copy)["IsValid"] is False


# --- supervision -----------------------------------------------------------------------


@pytest.mark.parametrize("approver", [None, "Regulator/clerk", "Org1/admin"], ids=["no-approval", "regulator-client", "other-org-admin"])
def test_write_without_a_regulator_admin_approval_is_refused_at_endorsement(shared_net: Network, approver: str | None) -> None:
    net = shared_net
    user, uid = new_user(net, tokens=3)
    gateway = net.gateway(user)
    invocation = gateway.new_invocation("userTopup", [uid, "9"])
    tx_id = compute_tx_id(invocation)
    signoffs = [make_signoff("party", user, tx_id)]
    if approver == "Regulator/clerk":
        signoffs.append(make_signoff("approval", net.enroll("Regulator", "clerk"), tx_id))
    elif approver == "Org1/admin":
        signoffs.append(make_signoff("approval", net.service_identity("Org1"), tx_id))
    with pytest.raises(EndorsementError) as caught:
        gateway.submit(invocation, signoffs)
    assert caught.value.code == "MISSING_ADMIN_APPROVAL"
    assert balance(net, uid) == 3


def test_write_endorsed_without_the_approval_check_is_missing_admin_approval_at_validation(shared_net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    net = shared_net
    user, uid = new_user(net, tokens=3)
    clerk = net.enroll("Regulator", f"clerk{next(_ids)}")  # a Regulator member, but not an admin

    def signoffs(tx_id: str) -> list[Signoff]:
        return [make_signoff("party", user, tx_id), make_signoff("approval", clerk, tx_id)]

    with monkeypatch.context() as patch:  # compromised endorsers: no approval check at all
        patch.setattr(Channel, "approval_policy", lambda self, chaincode: None)
        patch.setattr(PowerDataContract, "check_transaction", lambda self, stub, spec: None)
        prepared = endorse(net, user, "userTopup", uid, 9, make_signoffs=signoffs)
    _, code = broadcast_and_wait(net, prepared.envelope)
    assert code == V.MISSING_ADMIN_APPROVAL
    assert balance(net, uid) == 3


# --- membership ------------------------------------------------------------------------


@pytest.mark.parametrize("rogue_org", ["Org9", "Org1"], ids=["ca-of-unknown-org", "rogue-ca-claiming-org1"])
def test_certificate_from_a_ca_not_in_the_genesis_is_refused_everywhere(shared_net: Network, rogue_org: str) -> None:
    net = shared_net
    mallory = CertificateAuthority.generate(rogue_org).issue(f"mallory{next(_ids)}", "client")
    uid = f"m{next(_ids)}"

    # Endorsers refuse the proposal.
    with pytest.raises(EndorsementError) as caught:
        submit(net, mallory, "userRegister", "Mallory", uid)
    assert caught.value.code == "UNKNOWN_IDENTITY"

    # Endorsements obtained anyway (from peers that skip the proposal checks), then ordered.
    gateway = net.gateway(mallory)
    invocation = gateway.new_invocation("userRegister", ["Mallory", uid])
    tx_id = compute_tx_id(invocation)
    signoffs = (make_signoff("party", mallory, tx_id), make_signoff("approval", net.service_identity(net.approver_org), tx_id))
    proposal = Proposal(invocation, tx_id, now_ms(), mallory.cert_bytes, signoffs)
    checked = CheckedProposal(
        proposal,
        encode(proposal),
        mallory.identity,
        (VerifiedSignoff("party", mallory.identity), VerifiedSignoff("approval", net.service_identity(net.approver_org).identity)),
    )
    responses = []
    for peer in (net.peers[0], net.peers[2]):
        payload = encode(peer.endorser.simulate(checked, enforce_approval=True))
        responses.append(ProposalResponse(payload, Endorsement(peer.signing_identity.cert_bytes, peer.signing_identity.sign(payload))))
    assert len({r.payload for r in responses}) == 1
    transaction = EndorsedTransaction(encode(proposal), responses[0].payload, tuple(r.endorsement for r in responses))
    payload = encode(Payload(PayloadType.ENDORSER_TRANSACTION, net.channel, mallory.cert_bytes, encode(transaction)))
    envelope = encode(Envelope(payload, mallory.sign(payload)))

    refusal = net.orderer.broadcast(envelope)
    assert (refusal.accepted, refusal.code) == (False, "UNKNOWN_IDENTITY")

    _, code = broadcast_and_wait(net, envelope, via_queue=True)
    assert code == V.UNKNOWN_IDENTITY
    with pytest.raises(EndorsementError) as missing:
        query(net, "queryUser", uid)
    assert missing.value.code == "USER_NOT_FOUND"


def test_an_unsigned_party_signoff_counts_only_for_the_creator(shared_net: Network) -> None:
    """`creator_party`: the submitter's proposal signature covers its own party signoff; an
    empty signature naming anyone else is a forged consent and refused before simulation."""
    net = shared_net
    owner, other = net.enroll("Org1", f"owner{next(_ids)}"), net.enroll("Org1", f"other{next(_ids)}")
    uid = f"cp{next(_ids)}"
    own = endorse(net, owner, "userRegister", "Owner", uid, make_signoffs=lambda tx: [creator_party(owner), make_signoff("approval", net.service_identity(net.approver_org), tx)])
    assert broadcast_and_wait(net, own.envelope)[1] == ValidationCode.VALID
    assert query(net, "queryUser", uid)["Identity"] == owner.id

    height = net.orderer.height
    with pytest.raises(EndorsementError) as caught:
        endorse(net, owner, "userTopup", uid, 5, make_signoffs=lambda tx: [creator_party(other), make_signoff("approval", net.service_identity(net.approver_org), tx)])
    assert caught.value.code == "BAD_SIGNOFF" and net.orderer.height == height


def test_shared_network_peers_agree_and_verify_after_all_attacks(shared_net: Network) -> None:
    wait_in_sync(shared_net)
    report = verify_network(shared_net.data_dir, live_peers=shared_net.peers)
    assert report.ok, report.problems
