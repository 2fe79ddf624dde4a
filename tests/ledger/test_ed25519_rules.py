"""ledger.core.ed25519 gives libsodium's verdicts (crypto_sign_open) at ed25519-zebra's cost:
on random keys, messages and single-byte mutations of each, on the encodings ZIP-215
accepts and libsodium refuses (small-order keys and R, non-canonical S, R and keys), and
on the one case documented as different (an R with a torsion component, made by hand)."""

from __future__ import annotations

import hashlib
from collections import Counter

import ed25519_zebra
import msgspec
import nacl.bindings
import nacl.exceptions
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import ed25519
from ledger.core.encoding import decode, encode
from ledger.core.errors import MembershipError
from ledger.core.identity import CERT_DOMAIN, Certificate, CertificateAuthority, MembershipService, sign, verify_signature

ORDER = 2**252 + 27742317777372353535851937790883648493  # L, the prime order of the base point
P = ed25519.FIELD_PRIME
D = -121665 * pow(121666, -1, P) % P
CASES_MIN = 2_000


def libsodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True


def encoding(y: int, x_negative: bool = False) -> bytes:
    return (y | (x_negative << 255)).to_bytes(32, "little")


def point_of(y: int) -> tuple[int, int] | None:
    """The point with this y and an even x, in pure Python (x^2 = (y^2 - 1) / (d y^2 + 1))."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * pow(v, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if x * x % P != x2:
        x = x * pow(2, (P - 1) // 4, P) % P
    if x * x % P != x2:
        return None
    return (P - x if x & 1 else x), y


def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def secret_scalar(seed: bytes) -> int:
    a = bytearray(hashlib.sha512(seed).digest()[:32])
    a[0] &= 248
    a[31] = (a[31] & 127) | 64
    return int.from_bytes(a, "little") % ORDER


def challenge(r: bytes, public_key: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % ORDER


def signed_with_r(seed: bytes, message: bytes, r_scalar: int, r_encoding: bytes) -> bytes:
    """A signature whose R is `r_encoding` and S = r + k a: what only the key's holder can make."""
    public_key = nacl.bindings.crypto_sign_seed_keypair(seed)[0]
    s = (r_scalar + challenge(r_encoding, public_key, message) * secret_scalar(seed)) % ORDER
    return r_encoding + s.to_bytes(32, "little")


def test_the_small_order_list_is_the_eight_torsion_points() -> None:
    torsion = []
    for y in ed25519.SMALL_ORDER_Y:
        point = point_of(y)
        assert point is not None
        for x in {point[0], (P - point[0]) % P}:
            multiple = (x, y)
            for _ in range(3):
                multiple = add(multiple, multiple)
            assert multiple == (0, 1), y  # [8]T is the identity
            torsion.append((x, y))
    assert len(set(torsion)) == 8  # all of them: the 8-torsion group has 8 points


def flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def test_verdicts_agree_with_libsodium_on_random_keys_messages_and_mutations() -> None:
    tried: Counter[tuple[str, bool]] = Counter()

    @settings(max_examples=CASES_MIN, deadline=None, database=None)
    @given(
        seed=st.binary(min_size=32, max_size=32),
        message=st.binary(max_size=400),
        part=st.sampled_from(["none", "message", "signature", "key"]),
        index=st.integers(min_value=0, max_value=10_000),
        mask=st.integers(min_value=1, max_value=255),
    )
    def case(seed: bytes, message: bytes, part: str, index: int, mask: int) -> None:
        public_key, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
        signature = nacl.bindings.crypto_sign(message, secret_key)[:64]
        if part == "message":
            message = flip(message, index, mask) if message else b"\x00"
        elif part == "signature":
            signature = flip(signature, index, mask)
        elif part == "key":
            public_key = flip(public_key, index, mask)
        expected = libsodium(public_key, message, signature)
        assert ed25519.verify(public_key, message, signature) is expected
        tried[(part, expected)] += 1

    case()
    print(f"cases tried: {sum(tried.values())} {dict(tried)}")
    assert sum(tried.values()) >= CASES_MIN
    assert tried[("none", True)] > 0 and all(tried[(part, False)] > 0 for part in ("message", "signature", "key"))
    assert sum(n for (part, ok), n in tried.items() if part != "none" and ok) == 0  # no mutation verified


def test_small_order_public_keys_are_refused_though_zebra_accepts_them() -> None:
    message = b"anything"
    identity_r = encoding(1)
    for y in ed25519.SMALL_ORDER_Y | {P, P + 1}:  # and the non-canonical spellings of 0 and 1
        for negative in (False, True):
            key = encoding(y, negative)
            forged = identity_r + bytes(32)  # R = identity, S = 0: [8]([0]B - R - [k]A) = 0
            assert not ed25519.is_valid_public_key(key)
            assert not ed25519.verify(key, message, forged) and not libsodium(key, message, forged)
            assert not verify_signature(key, message, forged)
    assert ed25519_zebra.ed_verify(identity_r + bytes(32), message, encoding(1))  # what was closed


def test_non_canonical_public_key_encodings_are_refused() -> None:
    for y in range(19):  # y + p spells the point of y, where there is one
        key = encoding(y + P)
        assert not ed25519.is_valid_public_key(key)
        assert not ed25519.verify(key, b"m", encoding(1) + bytes(32))


def test_non_canonical_s_is_refused_by_both() -> None:
    seed = bytes(range(32))
    public_key, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
    signature = nacl.bindings.crypto_sign(b"pay 5", secret_key)[:64]
    assert ed25519.verify(public_key, b"pay 5", signature)
    s = int.from_bytes(signature[32:], "little")
    for bad_s in (s + ORDER, s + 2 * ORDER, (1 << 256) - 1):
        if bad_s >= 1 << 256:
            continue
        altered = signature[:32] + bad_s.to_bytes(32, "little")
        assert not libsodium(public_key, b"pay 5", altered)
        assert not ed25519_zebra.ed_verify(altered, b"pay 5", public_key)
        assert not ed25519.verify(public_key, b"pay 5", altered)


def test_small_order_and_non_canonical_r_are_refused_though_zebra_accepts_some() -> None:
    seed = bytes([7]) * 32
    public_key = nacl.bindings.crypto_sign_seed_keypair(seed)[0]
    zebra_accepted = 0
    for y in ed25519.SMALL_ORDER_Y | {P, P + 1}:
        for negative in (False, True):
            signature = signed_with_r(seed, b"m", 0, encoding(y, negative))  # S = k a: [S]B - [k]A = 0
            zebra_accepted += ed25519_zebra.ed_verify(signature, b"m", public_key)
            assert not libsodium(public_key, b"m", signature)
            assert not ed25519.verify(public_key, b"m", signature)
    assert zebra_accepted > 0


def test_the_documented_difference_an_r_with_a_torsion_component_made_by_the_keys_holder() -> None:
    """R = [r]B + T (T of order 8), S = r + k a: libsodium's cofactorless equation fails,
    the cofactored one (RFC 8032's) holds. Pinned so that the rule is a decision."""
    seed = bytes([9]) * 32
    public_key = nacl.bindings.crypto_sign_seed_keypair(seed)[0]
    r = 123456789
    r_point = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
    torsion = encoding(min(ed25519.SMALL_ORDER_Y - {0, 1, P - 1}))
    signature = signed_with_r(seed, b"m", r, nacl.bindings.crypto_core_ed25519_add(r_point, torsion))
    assert not libsodium(public_key, b"m", signature)
    assert ed25519.verify(public_key, b"m", signature)
    honest = signed_with_r(seed, b"m", r, r_point)  # the same by the rules: both agree
    assert libsodium(public_key, b"m", honest) and ed25519.verify(public_key, b"m", honest)


def test_a_certificate_whose_key_has_a_torsion_component_is_refused() -> None:
    """No key generator makes such a key; libsodium would check signatures under it."""
    ca = CertificateAuthority.generate("Org1")
    msp = MembershipService({"Org1": ca.public_key})
    good = decode(ca.issue("alice", "client").cert_bytes, Certificate)
    torsion = encoding(min(ed25519.SMALL_ORDER_Y - {0, 1, P - 1}))
    mixed_key = nacl.bindings.crypto_core_ed25519_add(good.body.public_key, torsion)
    body = msgspec.structs.replace(good.body, public_key=mixed_key)
    forged = Certificate(body, sign(ca.secret_key, CERT_DOMAIN + encode(body)))
    with pytest.raises(MembershipError) as refused:
        msp.deserialize(encode(forged))
    assert refused.value.code == "BAD_CERTIFICATE" and "no valid Ed25519 public key" in str(refused.value)
    assert msp.deserialize(encode(good)).body.public_key == good.body.public_key


def test_non_bytes_arguments_are_verified_as_their_bytes() -> None:
    public_key, secret_key = nacl.bindings.crypto_sign_seed_keypair(bytes([3]) * 32)
    signature = nacl.bindings.crypto_sign(b"m", secret_key)[:64]
    assert ed25519.verify(bytearray(public_key), memoryview(b"m"), bytearray(signature))
    assert ed25519.is_valid_public_key(bytearray(public_key)) and not ed25519.is_valid_public_key(bytearray(31))
    assert not ed25519.verify(public_key, b"m", signature[:63]) and not ed25519.verify(public_key[:31], b"m", signature)
