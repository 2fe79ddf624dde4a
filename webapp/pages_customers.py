"""Customer pages: an administrator links console accounts to meters (personal data masked),
and a customer sees its own meters, readings and bills (`customers` says how it is scoped)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from webapp import customers
from webapp.db import MeteringCustomer
from webapp.deps import requires_admin, requires_login
from webapp.errors import AppError, NotFound
from webapp.metering_api import metering_query
from webapp.pages import field, go, page
from webapp.pages_metering import WH_PER_KWH, local_midnight_utc, local_time, zone_name
from webapp.services import Services
from webapp.sessions import UserSession

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/metering/customers", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def customers_page(request: Request[Any, Any, Any], services: Services) -> Template:
    return _customers_view(request, services)


def _customers_view(request: Request[Any, Any, Any], services: Services, error: AppError | None = None, typed: dict[str, str] | None = None) -> Template:
    """The list and the link form; after a refusal, with it and the fields as typed (no retyping an ID and a bank account)."""
    return page(
        request, "metering_customers.html", status_code=error.status_code if error else 200, error=error, typed=typed or {},
        customers=[customers.masked(r) for r in customers.all_customers(services)],
    )


LINK_FIELDS = ("username", "meterId", "name", "id_number", "bank_account")


@post("/metering/customers/link", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def customers_link(request: Request[Any, Any, Any], services: Services, user: UserSession, data: Form) -> Redirect | Template:
    typed = {name: field(data, name) for name in LINK_FIELDS}
    try:
        meter = metering_query(services, user, "queryMeter", typed["meterId"].strip())
        customers.link(services, typed["username"].strip(), meter, typed["name"], typed["id_number"], typed["bank_account"])
    except AppError as error:
        return _customers_view(request, services, error, typed)
    return go("/metering/customers")


def _own(services: Services, user: UserSession, meter_id: str) -> MeteringCustomer:
    row = next((r for r in customers.customers_of(services, user.username) if r.meter_id == meter_id), None)
    if row is None:
        raise NotFound("NOT_YOUR_METER", f"Meter {meter_id} is not one of your meters.")
    return row


@get("/metering/my", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def my_page(request: Request[Any, Any, Any], services: Services, user: UserSession) -> Template:
    """Each own meter: its last local day of readings (kWh per local hour, as its bills count) and its bills."""
    mine = []
    for row in customers.customers_of(services, user.username):
        reader = customers.reader(services, row)
        meter = metering_query(services, user, "queryMeter", row.meter_id, reader=reader)
        day: list[tuple[str, float]] = []
        if meter["head"]["seq"]:
            offset = meter["utc_offset_minutes"]
            batch = metering_query(services, user, "queryBatch", row.meter_id, str(meter["head"]["seq"]), reader=reader)["batch"]
            last = local_time(batch["readings"][-1]["start"], offset).date()
            rows = metering_query(services, user, "queryReadings", row.meter_id, local_midnight_utc(last, offset), local_midnight_utc(last + dt.timedelta(days=1), offset), reader=reader)
            hours: dict[int, int] = {}
            for r in rows:
                hour = local_time(r["start"], offset).hour
                hours[hour] = hours.get(hour, 0) + r["wh"]
            day = [(f"{last.isoformat()} {h:02d}:00", wh / WH_PER_KWH) for h, wh in sorted(hours.items())]
        bills = metering_query(services, user, "listBills", row.meter_id, reader=reader)
        mine.append({"customer": customers.masked(row), "meter": meter, "day": day, "bills": bills, "zone": zone_name(meter["utc_offset_minutes"])})
    return page(request, "metering_my.html", mine=mine)


@get("/metering/my/bills/{meter_id:str}/{period:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def my_bill(request: Request[Any, Any, Any], services: Services, user: UserSession, meter_id: str, period: str) -> Template:
    reader = customers.reader(services, _own(services, user, meter_id))
    return page(request, "metering_bill.html", bill=metering_query(services, user, "queryBill", meter_id, period, reader=reader))


ROUTES = [customers_page, customers_link, my_page, my_bill]
