"""Meter staff in the console: who may see an organization's meters, readings, alerts and bills.

The metering contract lets only an organization's staff read its meters' data: its admins
and the clients its CA issued with attribute staff=collector or staff=operator
(chaincode/metering/access.py). A console sign-up is a plain client of the console's
organization, so it sees none of it (NOT_METER_STAFF) — a researcher or a customer who signs
up is not the grid company's staff. An administrator grants an account the operator role
here; the console then reads meter data and signs alert work orders for that person as the
identity `<username>+operator` of the person's organization (a name no sign-up can take),
issued by that organization's CA once per console start. The console holds that CA already
(it enrols every sign-up), so holding the operator's key gives it no power it did not have;
the person's own wallet identity stays a plain member, and the ledger names the operator
identity in what it writes (ackBy, resolvedBy). Revoking deletes the grant and forgets the
key; the certificate itself is not on a revocation list, but no one else ever held its key.
"""

from __future__ import annotations

from sqlmodel import select

from chaincode.metering.errors import OPERATOR, STAFF_ATTRIBUTE
from ledger.core.identity import SigningIdentity
from webapp.db import MeteringStaff, session
from webapp.errors import BadInput, Conflict, NotFound
from webapp.services import Services
from webapp.sessions import UserSession


def staff_identity_name(username: str) -> str:
    """`+` is not allowed in a console user id, so no sign-up can hold this name."""
    return f"{username}+{OPERATOR}"


def grant(services: Services, username: str, granted_by: str) -> MeteringStaff:
    """Make the console account `username` an operator of its organization's meters."""
    user = services.accounts.get(username)
    if user is None:
        raise NotFound("UNKNOWN_USER", f"No console account {username!r}.")
    if user.is_admin or user.org == services.chain.approver_org:
        raise BadInput("NOT_A_GRID_MEMBER", f"{username} is an administrator of {user.org} (the regulator), which reads meters by its level; meter staff are members of a grid company.")
    with session(services.engine) as db:
        if db.get(MeteringStaff, username) is not None:
            raise Conflict("ALREADY_STAFF", f"{username} is already meter staff of {user.org}.")
        row = MeteringStaff(username=username, org=user.org, kind=OPERATOR, granted_by=granted_by)
        db.add(row)
        db.commit()
    return row


def revoke(services: Services, username: str) -> None:
    with session(services.engine) as db:
        row = db.get(MeteringStaff, username)
        if row is None:
            raise NotFound("NOT_STAFF", f"{username} is not meter staff.")
        org = row.org
        db.delete(row)
        db.commit()
    services.chain.forget_identity(org, staff_identity_name(username))


def all_staff(services: Services) -> list[MeteringStaff]:
    with session(services.engine) as db:
        return list(db.exec(select(MeteringStaff).order_by(MeteringStaff.username)))


def is_staff(services: Services, user: UserSession | None) -> bool:
    """Whether the console shows this person its organization's meter pages."""
    if user is None or user.is_admin:
        return False
    with session(services.engine) as db:
        return db.get(MeteringStaff, user.username) is not None


def staff_identity(services: Services, user: UserSession) -> SigningIdentity | None:
    """The operator identity the console acts as for `user`, or None when it is not staff."""
    if user.is_admin:
        return None
    with session(services.engine) as db:
        row = db.get(MeteringStaff, user.username)
    if row is None:
        return None
    return services.chain.console_identity(row.org, staff_identity_name(user.username), "client", {STAFF_ATTRIBUTE: row.kind})
