"""Password-locked wallets: a signing identity encrypted under a key derived from a password.

The key is derived with argon2id and the identity sealed with XSalsa20-Poly1305
(`nacl.secret.SecretBox`), so whoever holds the file but not the password cannot sign.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from ledger.core.errors import LedgerError
from ledger.core.identity import SigningIdentity

# argon2id cost: interactive limits by default; tests may pass cheaper ones.
OPSLIMIT_DEFAULT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT_DEFAULT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
OPSLIMIT_MIN = nacl.pwhash.argon2id.OPSLIMIT_MIN
MEMLIMIT_MIN = nacl.pwhash.argon2id.MEMLIMIT_MIN
PASSWORD_LENGTH_MIN = 8
PASSWORD_LENGTH_MAX = 256


class WalletError(LedgerError):
    """WRONG_PASSWORD, BAD_WALLET or WEAK_PASSWORD (an expected error: the CLI and console
    print its code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass(frozen=True, slots=True)
class LockedWallet:
    """What is stored: salt, argon2id parameters and the sealed identity."""

    salt: bytes
    opslimit: int
    memlimit: int
    sealed: bytes

    def to_json(self) -> str:
        return json.dumps(
            {"salt": self.salt.hex(), "opslimit": self.opslimit, "memlimit": self.memlimit, "sealed": self.sealed.hex()}
        )

    @classmethod
    def from_json(cls, text: str) -> "LockedWallet":
        try:
            data = json.loads(text)
            return cls(bytes.fromhex(data["salt"]), int(data["opslimit"]), int(data["memlimit"]), bytes.fromhex(data["sealed"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise WalletError("BAD_WALLET", f"wallet file is damaged: {exc}") from None


def check_password_strength(password: str) -> None:
    if not (PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX):
        raise WalletError(
            "WEAK_PASSWORD", f"a password needs {PASSWORD_LENGTH_MIN} to {PASSWORD_LENGTH_MAX} characters"
        )


def _derive_key(password: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, password.encode(), salt, opslimit=opslimit, memlimit=memlimit
    )


def lock(
    identity: SigningIdentity, password: str, *, opslimit: int = OPSLIMIT_DEFAULT, memlimit: int = MEMLIMIT_DEFAULT
) -> LockedWallet:
    check_password_strength(password)
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive_key(password, salt, opslimit, memlimit))
    return LockedWallet(salt, opslimit, memlimit, bytes(box.encrypt(identity.to_json().encode())))


def unlock(wallet: LockedWallet, password: str) -> SigningIdentity:
    box = nacl.secret.SecretBox(_derive_key(password, wallet.salt, wallet.opslimit, wallet.memlimit))
    try:
        return SigningIdentity.from_json(box.decrypt(wallet.sealed).decode())
    except nacl.exceptions.CryptoError:
        raise WalletError("WRONG_PASSWORD", "the password does not open this wallet") from None


def fast_kdf_for_tests() -> bool:
    """Tests set GRIDLEDGER_FAST_KDF=1 to use the cheapest argon2id parameters."""
    return os.environ.get("GRIDLEDGER_FAST_KDF") == "1"
