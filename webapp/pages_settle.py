"""Settling a month from the console: a regulator administrator picks a period, confirms
(each bill is written once, for good), and sees every meter's outcome: the bill's total,
or the contract's refusal code (BILL_EXISTS, READINGS_INCOMPLETE, ...).

The settle transactions are signed by the administrator's own identity (the contract lets
the regulator's administrators settle any meter); they are ordered together, then awaited.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from ledger.core.errors import LedgerError
from ledger.gateway import PendingTransaction, creator_party
from webapp.deps import requires_admin
from webapp.errors import BadInput
from webapp.metering_api import CHAINCODE, metering_query
from webapp.pages import field, page
from webapp.services import Services
from webapp.sessions import UserSession

PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SETTLE_TIMEOUT_S = 120.0
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _period(text: str) -> str:
    if not PERIOD.fullmatch(text):
        raise BadInput("BAD_PERIOD", f"The period is a month YYYY-MM (e.g. 2026-02), not {text!r}.")
    return text


def settle_meters(services: Services, user: UserSession, period: str) -> list[dict[str, Any]]:
    """Settle every meter the administrator reads for `period`: one outcome per meter."""
    meters = [m["meterId"] for m in metering_query(services, user, "listMeters")]
    gateway = services.chain.gateway(user.identity)
    pending: list[tuple[str, PendingTransaction | LedgerError]] = []
    for meter_id in meters:
        try:
            invocation = gateway.new_invocation("settle", [meter_id, period], chaincode=CHAINCODE)
            pending.append((meter_id, gateway.submit_async(invocation, [creator_party(user.identity)])))
        except LedgerError as exc:
            pending.append((meter_id, exc))
    outcomes = []
    for meter_id, handle in pending:
        try:
            if isinstance(handle, LedgerError):
                raise handle
            bill = handle.result(SETTLE_TIMEOUT_S).json()
            outcomes.append({"meterId": meter_id, "ok": True, "total_fen": bill["total_fen"], "currency": bill["currency"], "lines": len(bill["lines"])})
        except LedgerError as exc:
            outcomes.append({"meterId": meter_id, "ok": False, "code": exc.code, "message": exc.message})
    return outcomes


@get("/metering/settle", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def settle_page(request: Request[Any, Any, Any], services: Services, user: UserSession, period: str = "") -> Template:
    """Without a period: the form. With one: what would be settled, and the confirm button."""
    if not period:
        return page(request, "metering_settle.html", period="", meters=None, outcomes=None)
    meters = metering_query(services, user, "listMeters")
    return page(request, "metering_settle.html", period=_period(period), meters=meters, outcomes=None)


@post("/metering/settle/confirm", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def settle_confirmed(request: Request[Any, Any, Any], services: Services, user: UserSession, data: Form) -> Template:
    period = _period(field(data, "period"))
    if field(data, "confirm") != "yes":
        raise BadInput("NOT_CONFIRMED", "Confirm the settlement first: each bill is written once and cannot be changed.")
    outcomes = settle_meters(services, user, period)
    return page(request, "metering_settle.html", period=period, meters=None, outcomes=outcomes,
                billed=sum(o["ok"] for o in outcomes), total_fen=sum(o.get("total_fen", 0) for o in outcomes))


ROUTES = [settle_page, settle_confirmed]
