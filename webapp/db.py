"""The console's own tables (SQLModel on SQLite in the data directory); the ledger keeps its own."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine

from ledger.node.layout import NetworkLayout


def now_s() -> float:
    return time.time()


class ConsoleUser(SQLModel, table=True):
    """A person who logs in. `username` is also the ledger user id (userId)."""

    __tablename__ = "console_user"
    username: str = Field(primary_key=True)
    display_name: str
    org: str
    identity_id: str  # "Org/name" of the certificate in the wallet
    is_admin: bool = False
    wallet_json: str  # LockedWallet: the signing key sealed under the user's password
    created_at: float = Field(default_factory=now_s)


class ReviewRequest(SQLModel, table=True):
    """A state-changing request: the invocation (with its nonce, so its tx id), its party
    signoffs, and where it is in review. Statuses: see webapp.workflow.Status."""

    __tablename__ = "review_request"
    id: str = Field(primary_key=True)
    kind: str = Field(index=True)  # register, topup, delete, enroll, purchase, transfer, cancel, report
    function: str
    args_json: str
    invocation_hex: str
    tx_id: str = Field(index=True)
    requester: str = Field(index=True)
    counterparty: str | None = Field(default=None, index=True)  # must accept a transfer between holders
    signoffs_json: str = "[]"  # hex of encoded party Signoffs
    summary: str  # what it will change, in words
    warnings_json: str = "[]"
    amount: int = 0  # tokens moved or added, for warnings and filters
    asset_id: str | None = Field(default=None, index=True)
    status: str = Field(index=True)
    created_at: float = Field(default_factory=now_s)
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str | None = None
    block: int | None = None
    code: str | None = None  # validation code or the contract's refusal code
    message: str | None = None


class SpareInvocation(SQLModel, table=True):
    """The same request under another nonce (so another transaction id), signed by its
    parties when they signed the request: what an approval retries with after an MVCC
    conflict, without asking the parties again. Used at most once, in `attempt` order."""

    __tablename__ = "spare_invocation"
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True)
    attempt: int
    invocation_hex: str
    tx_id: str
    signoffs_json: str = "[]"


class AuditEntry(SQLModel, table=True):
    """Every decision and outcome: who did what to which request, when, and why."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True)
    actor: str
    action: str  # requested, accepted, approved, auto_approved, rejected, expired, committed, failed
    detail: str = ""
    at: float = Field(default_factory=now_s)


class DatasetRecord(SQLModel, table=True):
    """A file stored off the ledger, by content hash."""

    __tablename__ = "dataset"
    sha256: str = Field(primary_key=True)
    uploader: str
    filename: str
    format: str
    size: int
    columns_json: str
    created_at: float = Field(default_factory=now_s)


class MeteringCustomer(SQLModel, table=True):
    """A grid company's customer and one of its meters. Personal data (name, ID number, bank
    account) stays here, off the ledger (which holds only the meter's salted customerRef), and
    is shown masked to its last 4 characters. `username` is the console account that sees it."""

    __tablename__ = "metering_customer"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True)
    meter_id: str = Field(index=True, unique=True)
    org: str
    customer_ref: str
    name: str
    id_number: str
    bank_account: str
    created_at: float = Field(default_factory=now_s)


class MeteringStaff(SQLModel, table=True):
    """A console account an administrator made meter staff (operator) of its organization:
    the console then reads meter data and works alerts for it as a staff identity
    (`webapp.metering_staff`). Deleting the row takes the role away."""

    __tablename__ = "metering_staff"
    username: str = Field(primary_key=True)
    org: str
    kind: str  # the certificate's staff attribute: operator
    granted_by: str
    granted_at: float = Field(default_factory=now_s)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_engine(data_dir: Path) -> Engine:
    path = NetworkLayout(data_dir).console_db
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    SQLModel.metadata.create_all(engine)
    return engine


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
