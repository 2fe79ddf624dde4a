"""Accounts: sign-up (key, certificate, wallet), login (unlock), administrators."""

from __future__ import annotations

import re
from pathlib import Path

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ledger.core.identity import SigningIdentity
from ledger.node import wallet as wallets
from ledger.node.layout import NetworkLayout
from webapp.chain import Chain
from webapp.db import ConsoleUser, session
from webapp.errors import BadInput, Conflict, NotAuthenticated
from webapp.sessions import SessionRegistry, UserSession
from webapp.settings import Settings
from webapp.throttle import LoginThrottle, SignupLimiter

log = structlog.get_logger("webapp.accounts")

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
FIRST_ADMIN = "admin"


def check_username(username: str) -> str:
    """The console's rule, within the contract's: `firstIssueTag` (the history's mark of an
    enrollment) is never a user id, so its sign-up made a wallet whose registration could only
    fail INVALID_ID."""
    from chaincode.power_data.errors import FIRST_ISSUE_TAG

    if not USERNAME_RE.match(username or ""):
        raise BadInput(
            "BAD_USER_ID",
            "A user id has 3 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    if username == FIRST_ISSUE_TAG:
        raise BadInput("BAD_USER_ID", f"{FIRST_ISSUE_TAG!r} is reserved by the ledger (it marks a first publication); choose another user id.")
    return username


def check_display_name(name: str) -> str:
    """The contract's own rule for userName (chaincode checks.check_name), so that a request the
    contract would refuse is never queued for an administrator."""
    from chaincode.power_data.checks import check_name
    from ledger.core.errors import LedgerError

    name = (name or "").strip()
    try:
        return check_name(name, "A name")
    except LedgerError as refusal:  # the contract's refusal (INVALID_NAME)
        raise BadInput("BAD_USER_NAME", f"{refusal.message}.") from None


def check_password(password: str) -> None:
    try:
        wallets.check_password_strength(password or "")
    except wallets.WalletError as exc:
        raise BadInput(exc.code, exc.message) from None


class AccountService:
    def __init__(self, engine: Engine, chain: Chain, settings: Settings, registry: SessionRegistry) -> None:
        self.engine = engine
        self.chain = chain
        self.settings = settings
        self.registry = registry
        self.throttle = LoginThrottle()
        self.signups = SignupLimiter(settings.signups_per_hour)

    def _lock(self, identity: SigningIdentity, password: str) -> str:
        try:
            if self.settings.fast_kdf or wallets.fast_kdf_for_tests():
                locked = wallets.lock(identity, password, opslimit=wallets.OPSLIMIT_MIN, memlimit=wallets.MEMLIMIT_MIN)
            else:
                locked = wallets.lock(identity, password)
        except wallets.WalletError as exc:
            raise BadInput(exc.code, exc.message) from None
        return locked.to_json()

    def get(self, username: str) -> ConsoleUser | None:
        with session(self.engine) as db:
            return db.get(ConsoleUser, username)

    def sign_up(self, username: str, display_name: str, password: str, client: str) -> tuple[ConsoleUser, SigningIdentity]:
        """Creates the key and certificate and the wallet; the ledger account comes with the register request.

        At most `signups_per_hour` accounts per client address: each costs a key, a certificate
        and an administrator's review."""
        self.signups.check(client)
        check_username(username)
        display_name = check_display_name(display_name)
        check_password(password)
        if self.get(username) is not None:
            raise Conflict("USER_EXISTS", f"The user id {username!r} is taken; choose another.")
        org = self.chain.console_org or self.settings.user_org
        identity = self.chain.enroll(org, username)
        user = ConsoleUser(
            username=username,
            display_name=display_name,
            org=org,
            identity_id=identity.id,
            wallet_json=self._lock(identity, password),
        )
        with session(self.engine) as db:
            if db.get(ConsoleUser, username) is not None:
                raise Conflict("USER_EXISTS", f"The user id {username!r} is taken; choose another.")
            db.add(user)
            db.commit()
        self.signups.created(client)
        log.info("signed_up", username=username, identity=identity.id)
        return user, identity

    def add_admin(self, username: str, display_name: str, password: str) -> ConsoleUser:
        check_username(username)
        display_name = check_display_name(display_name)
        check_password(password)
        if self.get(username) is not None:
            raise Conflict("USER_EXISTS", f"The user id {username!r} is taken; choose another.")
        identity = self.chain.enroll(self.chain.approver_org, username, role="admin")
        user = ConsoleUser(
            username=username,
            display_name=display_name,
            org=self.chain.approver_org,
            identity_id=identity.id,
            is_admin=True,
            wallet_json=self._lock(identity, password),
        )
        with session(self.engine) as db:
            db.add(user)
            db.commit()
        log.info("admin_added", username=username, identity=identity.id)
        return user

    def import_first_admin(self, data_dir: Path) -> None:
        """The approver org's admin wallet written by `init` becomes the console user "admin"."""
        path = NetworkLayout(data_dir).console_admin_wallet(self.chain.approver_org)
        if self.get(FIRST_ADMIN) is not None:
            return
        if not path.exists():
            if not self.list_admins():  # nobody can approve a write: say so where operators look
                log.warning(
                    "no_console_administrator",
                    expected=str(path),
                    fix=f"`gridledger org console-admin --org-dir <{self.chain.approver_org}'s own directory>` on the approver's machine, then copy the wallet here",
                )
            return
        text = path.read_text()
        wallets.LockedWallet.from_json(text)  # refuse a damaged file early
        with session(self.engine) as db:
            db.add(
                ConsoleUser(
                    username=FIRST_ADMIN,
                    display_name="Administrator",
                    org=self.chain.approver_org,
                    identity_id="",  # filled in at the first login
                    is_admin=True,
                    wallet_json=text,
                )
            )
            db.commit()
        log.info("first_admin_imported", path=str(path))

    def login(self, username: str, password: str, client: str) -> UserSession:
        """Unlocks the wallet; failures earn growing delays for the account and the address (webapp.throttle)."""
        username = username or ""
        self.throttle.check(username, client)
        user = self.get(username)
        if user is None:
            self.throttle.failed(username, client)
            raise NotAuthenticated("BAD_LOGIN", "Unknown user id or wrong password.")
        try:
            identity = wallets.unlock(wallets.LockedWallet.from_json(user.wallet_json), password or "")
        except wallets.WalletError:
            self.throttle.failed(username, client)
            raise NotAuthenticated("BAD_LOGIN", "Unknown user id or wrong password.") from None
        self.throttle.succeeded(username)
        if user.identity_id != identity.id:  # the imported admin wallet names its identity only inside
            with session(self.engine) as db:
                stored = db.get(ConsoleUser, user.username)
                if stored is not None:
                    stored.identity_id = identity.id
                    db.add(stored)
                    db.commit()
        log.info("logged_in", username=username)
        return self.registry.open(user.username, user.display_name, user.is_admin, identity)

    def list_admins(self) -> list[ConsoleUser]:
        with session(self.engine) as db:
            return list(db.exec(select(ConsoleUser).where(ConsoleUser.is_admin == True)))  # noqa: E712

    def by_identity(self, identity_ids: list[str]) -> dict[str, ConsoleUser]:
        """Console users bound to these certificate ids (`Org/name`): who acted in a transaction."""
        if not identity_ids:
            return {}
        with session(self.engine) as db:
            found = db.exec(select(ConsoleUser).where(col(ConsoleUser.identity_id).in_(identity_ids)))
            return {u.identity_id: u for u in found}
