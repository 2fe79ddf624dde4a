"""Identities and certificates: who may sign what (Fabric's MSP, with Ed25519 and msgpack).

Every organization has a certificate authority key; every identity holds an Ed25519 key and
a certificate signed by its org's CA naming org, role and attributes. The membership
service refuses unknown, expired and revoked identities.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import nacl.bindings
import nacl.signing

from ledger.core import ed25519
from ledger.core.encoding import Record, decode, encode
from ledger.core.errors import MembershipError
from ledger.core.sigcache import VerifiedSignatures

ROLES = ("client", "peer", "orderer", "admin")  # the roles the ledger itself gives meaning to
# A role is data: a CA may issue any role a chaincode gives meaning to (e.g. a metering
# contract's "meter"); the ledger only interprets the ROLES above.
ROLE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
NAME_LENGTH_MAX = 64
CERT_VALIDITY_DEFAULT_MS = 10 * 365 * 24 * 3600 * 1000
CERT_DOMAIN = b"gridledger/cert/v1\x00"
SIGNING_KEYS_CHECKED_MAX = 4_096  # secret keys known to hold their own public key (cleared when full)

# Successful verifications (and this process's own signatures) of this process: see
# ledger.core.sigcache. Only successes are kept, so no verdict can change.
VERIFIED = VerifiedSignatures()
_consistent_keys: set[bytes] = set()


def now_ms() -> int:
    return int(time.time() * 1000)


class CertificateBody(Record, frozen=True):
    serial: int
    org: str
    name: str
    role: str
    public_key: bytes
    attributes: tuple[tuple[str, str], ...]  # sorted by name
    not_before_ms: int
    not_after_ms: int


class Certificate(Record, frozen=True):
    body: CertificateBody
    signature: bytes  # the org CA's signature over CERT_DOMAIN + encode(body)


def sign(signing_key: bytes, message: bytes) -> bytes:
    """Ed25519 detached signature with a 64-byte libsodium secret key.

    The signature is recorded as verified under the key's public half (when the key really
    holds it): a check of it later in this process, by the orderer beside the gateway or by
    a validator of the endorsement its own peer made, then costs no verification."""
    signature = nacl.bindings.crypto_sign(message, signing_key)[:64]
    if type(message) is bytes and _holds_own_public_key(signing_key):
        VERIFIED.record(signing_key[32:], message, signature)
    return signature


def _holds_own_public_key(signing_key: bytes) -> bool:
    """The 64-byte key's second half is the public key of its seed (libsodium signs with that
    half, so a key whose halves disagree makes signatures that do not verify under it)."""
    if signing_key in _consistent_keys:
        return True
    if len(signing_key) != 64:
        return False
    _, derived = nacl.bindings.crypto_sign_seed_keypair(signing_key[:32])
    if derived != signing_key:
        return False
    if len(_consistent_keys) >= SIGNING_KEYS_CHECKED_MAX:
        _consistent_keys.clear()
    _consistent_keys.add(signing_key)
    return True


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 check of a detached signature (ledger.core.ed25519: libsodium's verdicts at
    ed25519-zebra's cost). A triple this process verified (or signed) before is answered
    from `VERIFIED`; anything else is verified, and kept if it holds."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    cacheable = type(public_key) is bytes and type(message) is bytes and type(signature) is bytes
    if cacheable and VERIFIED.holds(public_key, message, signature):
        return True
    if not ed25519.verify(public_key, message, signature):
        return False
    if cacheable:
        VERIFIED.record(public_key, message, signature)
    return True


@dataclass(frozen=True, slots=True)
class Identity:
    """A certificate whose CA signature has been checked."""

    cert_bytes: bytes
    body: CertificateBody

    @property
    def org(self) -> str:
        return self.body.org

    @property
    def name(self) -> str:
        return self.body.name

    @property
    def role(self) -> str:
        return self.body.role

    @property
    def id(self) -> str:
        """Stable identity id, `org/name`: survives certificate renewal."""
        return f"{self.body.org}/{self.body.name}"

    def attribute(self, name: str) -> str | None:
        return dict(self.body.attributes).get(name)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return verify_signature(self.body.public_key, message, signature)


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """An identity together with its private key: can sign."""

    cert_bytes: bytes
    secret_key: bytes  # 64-byte libsodium form (seed + public key)

    @property
    def certificate(self) -> Certificate:
        return decode(self.cert_bytes, Certificate)

    @property
    def identity(self) -> Identity:
        return Identity(self.cert_bytes, self.certificate.body)

    @property
    def id(self) -> str:
        body = self.certificate.body
        return f"{body.org}/{body.name}"

    def sign(self, message: bytes) -> bytes:
        return sign(self.secret_key, message)

    def to_json(self) -> str:
        return json.dumps({"cert": self.cert_bytes.hex(), "key": self.secret_key[:32].hex()})

    @classmethod
    def from_json(cls, text: str) -> "SigningIdentity":
        data = json.loads(text)
        seed = bytes.fromhex(data["key"])
        return cls(bytes.fromhex(data["cert"]), nacl.signing.SigningKey(seed)._signing_key)

    def save(self, path: Path) -> None:
        write_private_file(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "SigningIdentity":
        return cls.from_json(path.read_text())


def write_private_file(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class CertificateAuthority:
    """An organization's CA: issues certificates for its members."""

    def __init__(self, org: str, secret_key: bytes) -> None:
        self.org = org
        self.secret_key = secret_key

    @classmethod
    def generate(cls, org: str) -> "CertificateAuthority":
        return cls(org, nacl.signing.SigningKey.generate()._signing_key)

    @property
    def public_key(self) -> bytes:
        return self.secret_key[32:]

    def issue(
        self,
        name: str,
        role: str,
        attributes: dict[str, str] | None = None,
        *,
        serial: int | None = None,
        not_before_ms: int | None = None,
        validity_ms: int = CERT_VALIDITY_DEFAULT_MS,
    ) -> SigningIdentity:
        assert ROLE_PATTERN.fullmatch(role), f"a role is 1 to 32 of a-z 0-9 _ - starting with a letter, not {role!r}"
        assert 0 < len(name) <= NAME_LENGTH_MAX and "/" not in name, "bad identity name"
        key = nacl.signing.SigningKey.generate()
        start = now_ms() if not_before_ms is None else not_before_ms
        body = CertificateBody(
            serial=serial if serial is not None else int.from_bytes(os.urandom(8), "big") >> 1,
            org=self.org,
            name=name,
            role=role,
            public_key=bytes(key.verify_key),
            attributes=tuple(sorted((attributes or {}).items())),
            not_before_ms=start,
            not_after_ms=start + validity_ms,
        )
        cert = Certificate(body, sign(self.secret_key, CERT_DOMAIN + encode(body)))
        return SigningIdentity(encode(cert), key._signing_key)

    def to_json(self) -> str:
        return json.dumps({"org": self.org, "key": self.secret_key[:32].hex()})

    @classmethod
    def from_json(cls, text: str) -> "CertificateAuthority":
        data = json.loads(text)
        return cls(data["org"], nacl.signing.SigningKey(bytes.fromhex(data["key"]))._signing_key)


class MembershipService:
    """Checks certificates against the channel's CA roots and revocation lists.

    A certificate's CA signature is checked once and the result cached by the certificate's
    hash (as Fabric's MSP caches deserialized identities); validity dates and revocation are
    checked on every use.
    """

    CACHE_ENTRIES_MAX = 100_000

    def __init__(self, ca_public_keys: dict[str, bytes], revoked: dict[str, frozenset[int]] | None = None) -> None:
        self.ca_public_keys = dict(ca_public_keys)
        self.revoked = {org: frozenset(serials) for org, serials in (revoked or {}).items()}
        self._cache: dict[bytes, Identity] = {}
        self._lock = threading.Lock()

    def is_cached(self, cert_bytes: bytes) -> bool:
        """The certificate's CA check is remembered (validity times are still checked per use)."""
        return cert_bytes in self._cache

    def deserialize(self, cert_bytes: bytes) -> Identity:
        """Parse and CA-check a certificate; raises MembershipError."""
        cached = self._cache.get(cert_bytes)
        if cached is not None:
            return cached
        try:
            cert = decode(cert_bytes, Certificate)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MembershipError("BAD_CERTIFICATE", f"certificate cannot be decoded: {exc}") from None
        ca_key = self.ca_public_keys.get(cert.body.org)
        if ca_key is None:
            raise MembershipError("UNKNOWN_ORG", f"organization {cert.body.org!r} is not a member of this channel")
        if not verify_signature(ca_key, CERT_DOMAIN + encode(cert.body), cert.signature):
            raise MembershipError("BAD_CERTIFICATE", f"certificate of {cert.body.org}/{cert.body.name} is not signed by its organization's CA")
        if not ed25519.is_valid_public_key(cert.body.public_key):
            # no key generator makes one; refused here so that no signature is ever checked under it
            raise MembershipError("BAD_CERTIFICATE", f"certificate of {cert.body.org}/{cert.body.name} holds no valid Ed25519 public key")
        identity = Identity(cert_bytes, cert.body)
        with self._lock:
            if len(self._cache) >= self.CACHE_ENTRIES_MAX:
                self._cache.clear()
            self._cache[cert_bytes] = identity
        return identity

    def validate(self, cert_bytes: bytes, at_ms: int | None = None) -> Identity:
        """Deserialize and check dates and revocation; raises MembershipError."""
        identity = self.deserialize(cert_bytes)
        at = now_ms() if at_ms is None else at_ms
        body = identity.body
        if at < body.not_before_ms:
            raise MembershipError("NOT_YET_VALID", f"certificate of {identity.id} is not valid yet")
        if at > body.not_after_ms:
            raise MembershipError("EXPIRED", f"certificate of {identity.id} expired")
        if body.serial in self.revoked.get(body.org, frozenset()):
            raise MembershipError("REVOKED", f"certificate of {identity.id} (serial {body.serial}) is revoked")
        return identity

