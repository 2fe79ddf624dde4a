"""Password-locked wallets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.core.identity import CertificateAuthority
from ledger.node import wallet
from ledger.node.layout import NetworkLayout

FAST = {"opslimit": wallet.OPSLIMIT_MIN, "memlimit": wallet.MEMLIMIT_MIN}


def test_right_password_opens_the_wallet_and_the_key_still_signs() -> None:
    alice = CertificateAuthority.generate("Org1").issue("alice", "client")
    locked = wallet.lock(alice, "correct horse", **FAST)
    assert alice.secret_key not in locked.sealed and alice.secret_key[:32] not in locked.to_json().encode()
    opened = wallet.unlock(wallet.LockedWallet.from_json(locked.to_json()), "correct horse")
    assert opened == alice
    assert alice.identity.verify(b"m", opened.sign(b"m"))


@pytest.mark.parametrize("password", ["correct horsE", "", "correct horse "])
def test_wrong_password_is_refused(password: str) -> None:
    locked = wallet.lock(CertificateAuthority.generate("Org1").issue("bob", "client"), "correct horse", **FAST)
    with pytest.raises(wallet.WalletError) as caught:
        wallet.unlock(locked, password)
    assert caught.value.code == "WRONG_PASSWORD"


@pytest.mark.parametrize("password", ["short", "x" * 257])
def test_weak_password_is_refused_when_locking(password: str) -> None:
    with pytest.raises(wallet.WalletError) as caught:
        wallet.lock(CertificateAuthority.generate("Org1").issue("c", "client"), password, **FAST)
    assert caught.value.code == "WEAK_PASSWORD"


def test_damaged_wallet_file_is_bad_wallet() -> None:
    with pytest.raises(wallet.WalletError) as caught:
        wallet.LockedWallet.from_json('{"salt": "zz"}')
    assert caught.value.code == "BAD_WALLET"


def test_init_locks_the_regulator_console_admin_with_the_given_password(pristine_dir: Path) -> None:
    from netkit import ADMIN_PASSWORD

    locked = wallet.LockedWallet.from_json(NetworkLayout(pristine_dir).console_admin_wallet("Regulator").read_text())
    admin = wallet.unlock(locked, ADMIN_PASSWORD)
    assert (admin.identity.org, admin.identity.role) == ("Regulator", "admin")
    with pytest.raises(wallet.WalletError):
        wallet.unlock(locked, ADMIN_PASSWORD + "x")
    assert (NetworkLayout(pristine_dir).console_admin_wallet("Regulator").stat().st_mode & 0o077) == 0
