"""JSON API of the metering chaincode: meters, readings, chain check, alerts, tariffs, bills.

Read-only routes through the gateway, so the contract scopes every answer: meter staff (an
account an administrator made operator, `metering_staff`) read as the operator identity
(its organization's meters); any other member reads as its own identity, which the contract
refuses (403 NOT_METER_STAFF: consumption data is personal); a console administrator reads
as the console's national regulator identity (issued once per console start by the
regulator's CA, attributes level=national), so the regulator sees every meter.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router, get
from litestar.params import Parameter

from ledger.core.identity import SigningIdentity
from ledger.gateway import GatewayError
from webapp.api import refusals
from webapp.chain import Chain
from webapp.customers import customers_of, reader
from webapp.deps import requires_login
from webapp.errors import AppError, BadInput, Conflict, Forbidden, NotFound
from webapp.metering_staff import staff_identity
from webapp.services import Services
from webapp.sessions import UserSession

CHAINCODE = "metering"
REGULATOR_READER = "console-national-regulator"
_STATUS_OF = {"NOT_IN_SCOPE": Forbidden, "NOT_AUTHORIZED": Forbidden, "NOT_METER_STAFF": Forbidden}


def _regulator_reader(chain: Chain) -> SigningIdentity:
    """One national regulator identity per console (network) for administrators' reads."""
    return chain.console_identity(chain.approver_org, REGULATOR_READER, "client", {"level": "national", "region": "CN"})


def metering_query(services: Services, user: UserSession, function: str, *args: str, reader: SigningIdentity | None = None) -> Any:
    """Evaluate a metering query as `reader`, else as the reader this user maps to (the national
    regulator reader for administrators, the operator identity for meter staff, else its own
    identity); refusals keep their codes."""
    identity = reader or (_regulator_reader(services.chain) if user.is_admin else staff_identity(services, user) or user.identity)
    try:
        return services.chain.gateway(identity).evaluate_json(function, list(args), chaincode=CHAINCODE)
    except GatewayError as exc:
        raise metering_refusal(exc) from None


def metering_refusal(exc: GatewayError) -> AppError:
    """The console's one HTTP reading of a metering refusal, for reads and work orders alike:
    who may not (403), nothing by that id (404), a work order already past that step (409)."""
    code = exc.code
    if code in _STATUS_OF:
        return _STATUS_OF[code](code, exc.message)
    if code.startswith("UNKNOWN_"):
        return NotFound(code, exc.message)
    if code.startswith("BAD_"):
        return BadInput(code, exc.message)
    if code.startswith("ALERT_"):
        return Conflict(code, exc.message)
    return AppError(code, exc.message, 503 if code in ("NO_ENDORSERS", "PEER_UNAVAILABLE") else 400)


@get("/meters", sync_to_thread=True, guards=[requires_login], responses=refusals(401, 403, 503))
def meters_list(services: Services, user: UserSession) -> list[dict[str, Any]]:
    """The meters this user may read (its organization's for meter staff; every meter for administrators)."""
    return list(metering_query(services, user, "listMeters"))


@get("/meters/{meter_id:str}", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def meters_get(services: Services, user: UserSession, meter_id: str) -> dict[str, Any]:
    """One meter with its chain head; `customerRef` is a salted hash, never a name."""
    return dict(metering_query(services, user, "queryMeter", meter_id))


@get("/meters/{meter_id:str}/readings", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def meters_readings(
    services: Services, user: UserSession, meter_id: str,
    from_iso: Annotated[str, Parameter(query="from", description="UTC start, e.g. 2026-11-01T00:00:00Z")],
    to_iso: Annotated[str, Parameter(query="to", description="UTC end (exclusive), at most 100 days after from")],
) -> list[dict[str, Any]]:
    """15-minute readings in [from, to), in time order."""
    return list(metering_query(services, user, "queryReadings", meter_id, from_iso, to_iso))


@get("/meters/{meter_id:str}/monthly", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def meters_monthly(services: Services, user: UserSession, meter_id: str) -> dict[str, int]:
    """Wh per local month ({"YYYY-MM": wh}): what the year-on-year chart compares."""
    return dict(metering_query(services, user, "queryMonthlyWh", meter_id))


@get("/meters/{meter_id:str}/verify", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def meters_verify(services: Services, user: UserSession, meter_id: str) -> dict[str, Any]:
    """Every stored batch's meter signature, sequence and link re-checked: {ok, batches, problems}."""
    return dict(metering_query(services, user, "verifyMeterChain", meter_id))


@get("/alerts", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def alerts_list(services: Services, user: UserSession, meter_id: Annotated[str, Parameter(query="meterId")] = "") -> list[dict[str, Any]]:
    """Anomaly alerts (work orders) of one meter, or of every meter this user may read."""
    return list(metering_query(services, user, "listAlerts", meter_id))


@get("/tariffs/{tariff_id:str}", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 404, 503))
def tariffs_get(services: Services, user: UserSession, tariff_id: str) -> dict[str, Any]:
    """The newest version of a tariff and the list of its versions."""
    return dict(metering_query(services, user, "queryTariff", tariff_id))


@get("/bills", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def bills_list(
    services: Services, user: UserSession, meter_id: Annotated[str, Parameter(query="meterId")] = "", period: Annotated[str, Parameter(description="YYYY-MM: that month's bill of meterId")] = "",
) -> list[dict[str, Any]]:
    """Bills of one meter (or one month's bill with `period`), or every bill this user may read."""
    if period:
        if not meter_id:
            raise BadInput("BAD_ARGUMENTS", "period needs meterId")
        return [dict(metering_query(services, user, "queryBill", meter_id, period))]
    return list(metering_query(services, user, "listBills", meter_id))


@get("/my/meters", sync_to_thread=True, guards=[requires_login], responses=refusals(401, 503))
def my_meters(services: Services, user: UserSession) -> list[dict[str, Any]]:
    """A customer's own meters (linked to this account by an administrator), each with its bills;
    read as the customer's identity, so the contract returns nothing else."""
    found = []
    for row in customers_of(services, user.username):
        identity = reader(services, row)
        meter = dict(metering_query(services, user, "queryMeter", row.meter_id, reader=identity))
        found.append({"meter": meter, "bills": list(metering_query(services, user, "listBills", row.meter_id, reader=identity))})
    return found


def metering_router() -> Router:
    return Router(
        path="/",
        route_handlers=[my_meters, meters_list, meters_get, meters_readings, meters_monthly, meters_verify, alerts_list, tariffs_get, bills_list],
        opt={"api": True, "exclude_from_csrf": True},
        tags=["metering"],
    )
