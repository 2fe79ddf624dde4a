"""Customers of the grid companies in the console: who sees which meter, and their personal data.

An administrator links a console account to a meter, with the customer's name, ID number
and bank account. Those stay in the console's database (the ledger has only the meter's
salted `customerRef`) and are shown masked. The customer then reads its meters, readings
and bills as a customer identity of the meter's organization (role customer, attribute
customerRef, issued once per console start), so the contract itself limits what it sees.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from ledger.core.identity import SigningIdentity
from webapp.db import MeteringCustomer, session
from webapp.errors import BadInput, Conflict, NotFound
from webapp.services import Services

MASK_VISIBLE = 4  # characters of personal data shown
PERSONAL_CHARS_MAX = 100
CUSTOMER_ROLE = "customer"


def mask(text: str) -> str:
    """All but the last MASK_VISIBLE characters hidden."""
    return "•" * max(len(text) - MASK_VISIBLE, 0) + text[-MASK_VISIBLE:]


def masked(row: MeteringCustomer) -> dict[str, Any]:
    return {"username": row.username, "meterId": row.meter_id, "org": row.org, "customerRef": row.customer_ref,
            "name": mask(row.name), "id_number": mask(row.id_number), "bank_account": mask(row.bank_account)}


def _personal(value: str, what: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= PERSONAL_CHARS_MAX or not value.isprintable():
        raise BadInput("BAD_CUSTOMER", f"The {what} is 1 to {PERSONAL_CHARS_MAX} printable characters.")
    return value


def link(services: Services, username: str, meter: dict[str, Any], name: str, id_number: str, bank_account: str) -> MeteringCustomer:
    """Record that `username` is the customer of `meter` (read from the ledger by the caller)."""
    if services.accounts.get(username) is None:
        raise NotFound("UNKNOWN_USER", f"No console account {username!r}.")
    row = MeteringCustomer(username=username, meter_id=meter["meterId"], org=meter["org"], customer_ref=meter["customerRef"],
                           name=_personal(name, "name"), id_number=_personal(id_number, "ID number"), bank_account=_personal(bank_account, "bank account"))
    with session(services.engine) as db:
        if db.exec(select(MeteringCustomer).where(MeteringCustomer.meter_id == row.meter_id)).first() is not None:
            raise Conflict("CUSTOMER_LINKED", f"Meter {row.meter_id} already has a customer in the console.")
        db.add(row)
        db.commit()
    return row


def all_customers(services: Services) -> list[MeteringCustomer]:
    with session(services.engine) as db:
        return list(db.exec(select(MeteringCustomer).order_by(MeteringCustomer.meter_id)))


def customers_of(services: Services, username: str) -> list[MeteringCustomer]:
    with session(services.engine) as db:
        return list(db.exec(select(MeteringCustomer).where(MeteringCustomer.username == username).order_by(MeteringCustomer.meter_id)))


def reader(services: Services, row: MeteringCustomer) -> SigningIdentity:
    """The customer identity that reads `row`'s meters (one per organization and customerRef)."""
    return services.chain.console_identity(row.org, f"customer-{row.customer_ref[:24]}", CUSTOMER_ROLE, {"customerRef": row.customer_ref})
