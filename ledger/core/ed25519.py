"""Ed25519 verification: ed25519-zebra's arithmetic under libsodium's encoding rules.

Why: verification is the largest single CPU cost of a committed transaction (a peer's
commit thread spends most of its time in it). ed25519-zebra (the Zcash Foundation's Rust
crate, via py-ed25519-zebra-bindings) verifies in ~38 µs where libsodium's
crypto_sign_open takes ~59 µs on the same machine. Signing stays on libsodium.

ed25519-zebra follows ZIP-215, which is looser than libsodium. So the encodings libsodium
refuses are refused here first, and the verdict is libsodium's for every signature that any
Ed25519 signer makes:
- public key: a canonical encoding of a point of the prime-order subgroup
  (crypto_core_ed25519_is_valid_point), checked once per key and remembered. libsodium
  refuses non-canonical and small-order keys; it would accept a key with a torsion
  component, which no key generator makes: refused here (stricter, never looser);
- R (the signature's first half): canonical (y < p) and not one of the small-order points
  (libsodium's own blocklist, compared on y as libsodium does);
- S: canonical (S < L): ed25519-zebra refuses a non-canonical S itself, as libsodium does
  (tests/ledger/test_ed25519_rules.py holds both to it).
The one difference left is the equation: ed25519-zebra checks the cofactored
[8]([S]B - R - [k]A) = 0 (RFC 8032 5.1.7's), libsodium the cofactorless [S]B = R + [k]A.
With A and R as above they disagree only for an R that carries a nonzero 8-torsion
component: no signer makes one, and only the holder of the secret key can make a signature
of that form at all (a test makes one by hand, and pins the verdict: accepted). Ruling it
out would cost a scalar multiplication (~45 µs), more than the saving.
"""

from __future__ import annotations

import ed25519_zebra
import nacl.bindings

FIELD_PRIME = 2**255 - 19
Y_MASK = (1 << 255) - 1  # the low 255 bits of an encoding hold y; the top bit is x's sign
# y coordinates of the small-order points (orders 1, 2, 4, 4 and the two pairs of order 8),
# as libsodium's ge25519_has_small_order lists them (it ignores the sign bit, as here)
SMALL_ORDER_Y = frozenset(
    {
        0,
        1,
        FIELD_PRIME - 1,
        int.from_bytes(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"),
        int.from_bytes(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little"),
    }
)
PUBLIC_KEYS_CHECKED_MAX = 4_096  # public keys known to be valid points (cleared when full)

_valid_keys: set[bytes] = set()


def is_valid_public_key(public_key: bytes) -> bool:
    """A canonical encoding of a point of the prime-order subgroup, not of small order: what
    every Ed25519 key generator makes. Remembered once checked (a ~45 µs check)."""
    key = public_key if type(public_key) is bytes else bytes(public_key)
    if key in _valid_keys:
        return True
    if len(key) != 32 or not nacl.bindings.crypto_core_ed25519_is_valid_point(key):
        return False
    if len(_valid_keys) >= PUBLIC_KEYS_CHECKED_MAX:
        _valid_keys.clear()
    _valid_keys.add(key)
    return True


def _acceptable_r(r: bytes) -> bool:
    """libsodium's checks of R: it refuses a small-order R, and a non-canonical one can never
    equal the canonical encoding it recomputes."""
    y = int.from_bytes(r, "little") & Y_MASK
    return y < FIELD_PRIME and y not in SMALL_ORDER_Y


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if `signature` is a valid Ed25519 signature of `message` under `public_key`
    (the rules of the module docstring); False for anything else, never an exception."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    if type(signature) is not bytes or type(message) is not bytes or type(public_key) is not bytes:
        signature, message, public_key = bytes(signature), bytes(message), bytes(public_key)
    if not _acceptable_r(signature[:32]) or not is_valid_public_key(public_key):
        return False
    return bool(ed25519_zebra.ed_verify(signature, message, public_key))
