"""The per-process cache of verified signatures (ledger.core.sigcache): it only ever skips
a verification this process already made, never turns a bad signature into a good one, and
really is used on the hot path (verifications per committed transaction are counted)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import ed25519_zebra
import nacl.bindings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netkit import broadcast_and_wait, signoffs_for, submit

from ledger.core import identity as identity_module
from ledger.core import sigcache
from ledger.core.blocks import seal_block
from ledger.core.codes import ValidationCode
from ledger.core.encoding import decode, encode
from ledger.core.identity import VERIFIED, sign, verify_signature
from ledger.core.messages import ProposalResponse, compute_tx_id
from ledger.node.network import Network
from ledger.order.admission import check_envelope
from ledger.validate.validator import Validator

KEYS = [nacl.bindings.crypto_sign_seed_keypair(bytes([n]) * 32)[1] for n in range(1, 4)]  # 64-byte secret keys


class Counted:
    """Counts ed25519-zebra's verifications (every Ed25519 check of the ledger ends there)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = ed25519_zebra.ed_verify

        def counting(signature: bytes, message: bytes, public_key: bytes) -> bool:
            self.calls += 1
            return bool(real(signature, message, public_key))

        monkeypatch.setattr(ed25519_zebra, "ed_verify", counting)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counted]:
    VERIFIED.clear()
    yield Counted(monkeypatch)
    VERIFIED.clear()


def flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(KEYS),
    message=st.binary(min_size=1, max_size=600),
    part=st.sampled_from(["message", "signature", "key"]),
    index=st.integers(min_value=0, max_value=10_000),
    mask=st.integers(min_value=1, max_value=255),
    signed_here=st.booleans(),
)
def test_a_cached_success_never_makes_an_altered_triple_verify(key: bytes, message: bytes, part: str, index: int, mask: int, signed_here: bool) -> None:
    public_key = key[32:]
    if signed_here:  # recorded at signing time
        signature = sign(key, message)
    else:  # made elsewhere, recorded by its first verification here
        signature = nacl.bindings.crypto_sign(message, key)[:64]
        assert verify_signature(public_key, message, signature)
    assert VERIFIED.holds(public_key, message, signature)
    altered = {
        "message": (public_key, flip(message, index, mask), signature),
        "signature": (public_key, message, flip(signature, index, mask)),
        "key": (flip(public_key, index, mask), message, signature),
    }[part]
    assert not verify_signature(*altered)
    assert not verify_signature(*altered)  # a refusal is not remembered either
    assert not VERIFIED.holds(*altered)
    assert verify_signature(public_key, message, signature)


def test_a_hit_costs_no_verification_and_a_refusal_is_verified_every_time(counted: Counted) -> None:
    message = b"an endorsement's response payload"
    signature = nacl.bindings.crypto_sign(message, KEYS[0])[:64]
    assert verify_signature(KEYS[0][32:], message, signature) and counted.calls == 1
    assert verify_signature(KEYS[0][32:], message, signature) and counted.calls == 1
    forged = flip(signature, 5, 1)
    for expected_calls in (2, 3):
        assert not verify_signature(KEYS[0][32:], message, forged)
        assert counted.calls == expected_calls


def test_own_signatures_are_recorded_only_under_the_key_that_really_made_them(counted: Counted) -> None:
    good = KEYS[0]
    signature = sign(good, b"mine")
    assert verify_signature(good[32:], b"mine", signature) and counted.calls == 0
    # a 64-byte key whose public half is another key's: libsodium's signature does not
    # verify under that half, and nothing may say it does
    mismatched = good[:32] + KEYS[1][32:]
    bad = sign(mismatched, b"mine")
    assert not VERIFIED.holds(KEYS[1][32:], b"mine", bad)
    assert not verify_signature(KEYS[1][32:], b"mine", bad) and counted.calls == 1
    # a signature checked under another key than the one that made it: verified, refused
    assert not verify_signature(KEYS[2][32:], b"mine", signature) and counted.calls == 2


def test_the_cache_keeps_two_bounded_generations_by_entries_and_by_bytes() -> None:
    def triple(n: int, size: int = 2) -> tuple[bytes, bytes, bytes]:
        return bytes([n]) * 32, (b"m%d" % n).ljust(size, b"."), bytes([n]) * 64

    cache = sigcache.VerifiedSignatures(generation_entries=2, generation_bytes=100)
    for n in range(4):  # generations {0, 1} then {2, 3}
        cache.record(*triple(n))
    assert len(cache) == 4 and all(cache.holds(*triple(n)) for n in range(4))
    cache.record(*triple(4))  # {2, 3} becomes the previous generation; {0, 1} is dropped
    assert len(cache) == 3
    assert not cache.holds(*triple(0)) and not cache.holds(*triple(1))
    assert all(cache.holds(*triple(n)) for n in (2, 3, 4))
    public_key, _, signature = triple(2)
    assert not cache.holds(public_key, b"m3", signature)  # another message under a kept (key, signature)
    cache.record(*triple(9, 99))  # the current generation's byte budget rotates it: {4} and {9}
    assert len(cache) == 2 and cache.holds(*triple(9, 99)) and cache.holds(*triple(4))
    cache.record(*triple(8, 60))  # 99 + 60 bytes exceed one generation's budget: {9} and {8}
    assert not cache.holds(*triple(4)) and cache.holds(*triple(9, 99)) and cache.holds(*triple(8, 60))
    too_long = triple(7, sigcache.MESSAGE_BYTES_MAX + 1)
    cache.record(*too_long)
    assert not cache.holds(*too_long)
    cache.clear()
    assert len(cache) == 0 and not cache.holds(*triple(9, 99))
    assert identity_module.VERIFIED.generation_entries == sigcache.GENERATION_ENTRIES


def test_a_peer_verifies_only_what_its_own_endorser_did_not(network_dir: Path, counted: Counted) -> None:
    """As in a peer's own process: its endorser checked the approval and signed the
    endorsement, so its validator verifies only the creator's envelope signature and the
    other organization's endorsement (2 of 4); the orderer beside the gateway verifies none."""
    net = Network.open(network_dir, peer_processes=False)
    try:
        user = net.enroll("Org1", "cacheuser")
        submit(net, user, "userRegister", "Cache", "CCH")
        org1, org2 = (next(p for p in net.peers if p.org == org) for org in ("Org1", "Org2"))
        gateway = net.gateway(user)
        invocation = gateway.new_invocation("userTopup", ["CCH", "7"])
        signed = gateway.propose(invocation, signoffs_for(net, compute_tx_id(invocation), [user]))
        responses = [decode(peer.endorse(encode(signed)).result(timeout=10), ProposalResponse) for peer in (org1, org2)]
        envelope = gateway.assemble(signed, responses[0].payload, responses)

        counted.calls = 0
        assert check_envelope(org1.channel, envelope).accepted and counted.calls == 0  # the gateway's own signature

        VERIFIED.clear()  # org1's process: it has seen nothing of this transaction yet
        again = decode(org1.endorse(encode(signed)).result(timeout=10), ProposalResponse)
        assert again == responses[0]  # Ed25519 is deterministic: the same endorsement
        assert counted.calls == 3  # the proposal's signature, the user's party signoff, the approval
        # the validator reads only the block's number, time and transactions (the seal is the
        # committer's check): any signer will do
        block = seal_block(net.orderer.height, bytes(32), [envelope], user, int(time.time() * 1000))
        counted.calls = 0
        result = Validator(org1.channel).validate(block, org1.state)
        assert result.codes == [ValidationCode.VALID]
        assert counted.calls == 2  # the creator's and Org2's endorsement; not the approval, not its own
    finally:
        net.close()


def test_verifications_per_committed_transaction_in_one_process(network_dir: Path, counted: Counted) -> None:
    """With every node in one process each signature is verified at most once. The client's
    signatures are made as if elsewhere (the cache is emptied after it signs): the first
    endorser verifies the proposal, the party signoff and the approval; the second endorser,
    the orderer (the gateway's envelope signature) and the four validators verify nothing:
    3 per transaction, against 27 without the cache (measured: 2 x 3 + 1 + 4 x 4, and the
    orderer's signature of its one-transaction block at each of the 4 peers). (The endorsers are
    asked one after the other: asked at once, both could miss before either records.)"""
    net = Network.open(network_dir, peer_processes=False)
    try:
        user = net.enroll("Org1", "counted")
        submit(net, user, "userRegister", "Counted", "CNT")
        endorsers = [next(p for p in net.peers if p.org == org) for org in ("Org1", "Org2")]
        gateway = net.gateway(user)
        transactions = 5
        for n in range(1 + transactions):  # the first makes every node's MSP know the certificates
            if n == 1:
                counted.calls = 0
            invocation = gateway.new_invocation("userTopup", ["CNT", "1"])
            signed = gateway.propose(invocation, signoffs_for(net, compute_tx_id(invocation), [user]))
            VERIFIED.clear()
            responses = [decode(peer.endorse(encode(signed)).result(timeout=10), ProposalResponse) for peer in endorsers]
            _, code = broadcast_and_wait(net, gateway.assemble(signed, responses[0].payload, responses))
            assert code == ValidationCode.VALID
        assert counted.calls == 3 * transactions, counted.calls
    finally:
        net.close()
