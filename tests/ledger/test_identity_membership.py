"""Certificates and the membership service: issue, verify, and every refusal."""

from __future__ import annotations

import msgspec
import pytest

from ledger.core.encoding import decode, encode
from ledger.core.identity import (
    Certificate,
    CertificateAuthority,
    MembershipError,
    MembershipService,
    SigningIdentity,
    now_ms,
)

HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def org1() -> CertificateAuthority:
    return CertificateAuthority.generate("Org1")


@pytest.fixture(scope="module")
def msp(org1: CertificateAuthority) -> MembershipService:
    return MembershipService({"Org1": org1.public_key}, {"Org1": frozenset({666})})


def test_issued_certificate_names_org_role_attributes_and_its_key_signs(org1: CertificateAuthority, msp: MembershipService) -> None:
    alice = org1.issue("alice", "client", {"dept": "grid", "a": "1"})
    identity = msp.validate(alice.cert_bytes)
    assert (identity.id, identity.org, identity.role) == ("Org1/alice", "Org1", "client")
    assert identity.attribute("dept") == "grid" and identity.attribute("missing") is None
    assert identity.body.attributes == (("a", "1"), ("dept", "grid"))  # sorted: canonical
    assert identity.verify(b"hello", alice.sign(b"hello"))
    assert not identity.verify(b"hello!", alice.sign(b"hello"))
    assert SigningIdentity.from_json(alice.to_json()) == alice


def refusal(msp: MembershipService, cert_bytes: bytes, at_ms: int | None = None) -> str:
    with pytest.raises(MembershipError) as caught:
        msp.validate(cert_bytes, at_ms)
    return caught.value.code


def test_certificate_from_an_org_outside_the_channel_is_unknown_org(msp: MembershipService) -> None:
    stranger = CertificateAuthority.generate("Org9").issue("mallory", "client")
    assert refusal(msp, stranger.cert_bytes) == "UNKNOWN_ORG"


def test_certificate_signed_by_a_rogue_ca_claiming_a_member_org_is_bad_certificate(msp: MembershipService) -> None:
    rogue = CertificateAuthority.generate("Org1").issue("mallory", "admin")
    assert refusal(msp, rogue.cert_bytes) == "BAD_CERTIFICATE"


def test_certificate_with_an_altered_body_is_bad_certificate(org1: CertificateAuthority, msp: MembershipService) -> None:
    cert = decode(org1.issue("bob", "client").cert_bytes, Certificate)
    promoted = Certificate(msgspec.structs.replace(cert.body, role="admin"), cert.signature)
    assert refusal(msp, encode(promoted)) == "BAD_CERTIFICATE"
    assert refusal(msp, b"\x01\x02junk") == "BAD_CERTIFICATE"


def test_expired_certificate_is_refused(org1: CertificateAuthority, msp: MembershipService) -> None:
    old = org1.issue("old", "client", not_before_ms=now_ms() - 2 * HOUR_MS, validity_ms=HOUR_MS)
    assert refusal(msp, old.cert_bytes) == "EXPIRED"


def test_not_yet_valid_certificate_is_refused(org1: CertificateAuthority, msp: MembershipService) -> None:
    future = org1.issue("future", "client", not_before_ms=now_ms() + HOUR_MS)
    assert refusal(msp, future.cert_bytes) == "NOT_YET_VALID"


def test_revoked_serial_is_refused(org1: CertificateAuthority, msp: MembershipService) -> None:
    revoked = org1.issue("gone", "client", serial=666)
    assert refusal(msp, revoked.cert_bytes) == "REVOKED"
    assert msp.validate(org1.issue("kept", "client", serial=667).cert_bytes).name == "kept"


def test_cache_of_a_checked_certificate_does_not_bypass_expiry(org1: CertificateAuthority, msp: MembershipService) -> None:
    start = now_ms()
    short = org1.issue("short", "client", not_before_ms=start, validity_ms=HOUR_MS)
    assert msp.validate(short.cert_bytes, start + 1).name == "short"  # now cached
    assert msp.is_cached(short.cert_bytes)
    assert refusal(msp, short.cert_bytes, start + 2 * HOUR_MS) == "EXPIRED"
    assert refusal(msp, short.cert_bytes, start - 1) == "NOT_YET_VALID"
