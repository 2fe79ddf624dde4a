"""Pages of the metering chaincode: meters, one meter's consumption and chain check, a bill
with its lines and the formula in words, and alerts as a work-order queue. Every read goes
through `metering_api.metering_query`, so the contract scopes what each person sees."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from ledger.gateway import GatewayError, creator_party
from webapp import metering_staff
from webapp.charts import bars, grouped_bars
from webapp.deps import requires_admin, requires_login
from webapp.errors import AppError, BadInput
from webapp.metering_api import CHAINCODE, metering_query, metering_refusal
from webapp.pages import field, go, page
from webapp.services import Services
from webapp.sessions import UserSession

VIEWS = {"day": 1, "week": 7, "month": 30}  # days of readings each chart view shows
WH_PER_KWH = 1000


ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def local_time(start_iso: str, utc_offset_minutes: int) -> dt.datetime:
    """A reading's start in the meter's local time (its tariff's offset, the time bills use)."""
    return dt.datetime.strptime(start_iso, ISO_FORMAT) + dt.timedelta(minutes=utc_offset_minutes)


def local_midnight_utc(day: dt.date, utc_offset_minutes: int) -> str:
    """The UTC instant (ISO) at which a local day begins: what queryReadings is asked from."""
    return (dt.datetime.combine(day, dt.time()) - dt.timedelta(minutes=utc_offset_minutes)).strftime(ISO_FORMAT)


def zone_name(utc_offset_minutes: int) -> str:
    """`UTC+8`, `UTC+5:30`, `UTC-3`, `UTC` for an offset in minutes."""
    if not utc_offset_minutes:
        return "UTC"
    hours, minutes = divmod(abs(utc_offset_minutes), 60)
    return f"UTC{'+' if utc_offset_minutes > 0 else '-'}{hours}{f':{minutes:02d}' if minutes else ''}"


def _anchor(services: Services, user: UserSession, meter: dict[str, Any], date: str) -> dt.date | None:
    """The local day a chart ends on: ?date=, else the local day of the meter's last reading."""
    if date:
        try:
            return dt.date.fromisoformat(date)
        except ValueError:
            raise BadInput("BAD_DATE", f"date must be YYYY-MM-DD, got {date!r}") from None
    seq = meter["head"]["seq"]
    if not seq:
        return None
    batch = metering_query(services, user, "queryBatch", meter["meterId"], str(seq))["batch"]
    return local_time(batch["readings"][-1]["start"], meter["utc_offset_minutes"]).date()


def consumption(services: Services, user: UserSession, meter: dict[str, Any], last_day: dt.date, view: str) -> tuple[list[str], list[float]]:
    """(labels, kWh): per hour for a day, per day for a week or a month, in the meter's local
    time (the days and hours its tariff bands and bills are in, not UTC)."""
    days, offset = VIEWS[view], meter["utc_offset_minutes"]
    first = last_day - dt.timedelta(days=days - 1)
    rows = metering_query(services, user, "queryReadings", meter["meterId"], local_midnight_utc(first, offset), local_midnight_utc(last_day + dt.timedelta(days=1), offset))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        local = local_time(row["start"], offset)
        totals[f"{local.hour:02d}:00" if view == "day" else local.date().isoformat()[5:10]] += row["wh"]
    if view == "day":
        labels = [f"{h:02d}:00" for h in range(24)]
    else:
        labels = [(first + dt.timedelta(days=d)).isoformat()[5:10] for d in range(days)]
    return labels, [totals.get(label, 0) / WH_PER_KWH for label in labels]


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def year_on_year(monthly_wh: dict[str, int]) -> tuple[int, dict[str, list[float]]] | None:
    """(year, {"year-1": kWh per month, "year": kWh per month}) for the latest year with
    readings, when the year before has readings too (None otherwise: nothing to compare)."""
    if not monthly_wh:
        return None
    year = int(max(monthly_wh)[:4])
    if not any(month.startswith(f"{year - 1:04d}-") and wh > 0 for month, wh in monthly_wh.items()):
        return None
    return year, {str(y): [monthly_wh.get(f"{y:04d}-{m:02d}", 0) / WH_PER_KWH for m in range(1, 13)] for y in (year - 1, year)}


@get("/metering", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def meters_page(request: Request[Any, Any, Any], services: Services, user: UserSession) -> Template:
    return page(request, "metering_meters.html", meters=metering_query(services, user, "listMeters"))


@get("/metering/meters/{meter_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def meter_page(request: Request[Any, Any, Any], services: Services, user: UserSession, meter_id: str, view: str = "day", date: str = "") -> Template:
    if view not in VIEWS:
        raise BadInput("BAD_VIEW", f"view is one of {', '.join(VIEWS)}")
    meter = metering_query(services, user, "queryMeter", meter_id)
    last_day = _anchor(services, user, meter, date)
    chart = None
    if last_day is not None:
        labels, kwh = consumption(services, user, meter, last_day, view)
        title = f"Consumption (kWh) — {view} to {last_day.isoformat()}, local time ({zone_name(meter['utc_offset_minutes'])})"
        chart = bars(title, labels, kwh, "chart-consumption", " kWh", "kWh")
    compared = year_on_year(metering_query(services, user, "queryMonthlyWh", meter_id))
    yoy = None if compared is None else grouped_bars(f"Consumption (kWh) by local month — {compared[0]} against {compared[0] - 1}", MONTHS, compared[1], "chart-yoy", " kWh")
    return page(
        request, "metering_meter.html", meter=meter, view=view, yoy=yoy, views=list(VIEWS), date=last_day.isoformat() if last_day else "", chart=chart,
        chain=metering_query(services, user, "verifyMeterChain", meter_id), alerts=metering_query(services, user, "listAlerts", meter_id),
        bills=metering_query(services, user, "listBills", meter_id),
    )


@get("/metering/bills/{meter_id:str}/{period:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def bill_page(request: Request[Any, Any, Any], services: Services, user: UserSession, meter_id: str, period: str) -> Template:
    bill = metering_query(services, user, "queryBill", meter_id, period)
    return page(request, "metering_bill.html", bill=bill)


def work_order_state(alert: dict[str, Any], now_ms: int) -> str:
    """Where a work order stands against the seed's deadlines (2 h local team, 8 h province)."""
    if alert["status"] == "resolved":
        return "resolved"
    if now_ms > alert["escalatedDueAt"]:
        return "overdue: escalated to the province (8 h)"
    if alert["status"] == "open" and now_ms > alert["ackDueAt"]:
        return "overdue: local team (2 h)"
    return str(alert["status"])


@get("/metering/alerts", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def alerts_page(request: Request[Any, Any, Any], services: Services, user: UserSession) -> Template:
    now_ms = int(time.time() * 1000)
    alerts = sorted(metering_query(services, user, "listAlerts", ""), key=lambda a: (a["status"] == "resolved", a["raisedAt"]))
    return page(request, "metering_alerts.html", alerts=[{**a, "state": work_order_state(a, now_ms)} for a in alerts])


@get("/metering/tariffs/{tariff_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def tariff_page(request: Request[Any, Any, Any], services: Services, user: UserSession, tariff_id: str) -> Template:
    """A tariff's newest version (bands, tiers, power-factor standard) and its version history."""
    return _tariff_view(request, services, user, tariff_id)


def _tariff_view(
    request: Request[Any, Any, Any], services: Services, user: UserSession, tariff_id: str, error: AppError | None = None, typed: str = ""
) -> Template:
    """The tariff page; after a refused version, with the refusal and the JSON as it was typed
    (an administrator's edits of a long document are not lost to one typo)."""
    tariff = metering_query(services, user, "queryTariff", tariff_id)
    draft = typed or (json.dumps(tariff["tariff"], indent=1, ensure_ascii=False) if user.is_admin else "")
    return page(
        request, "metering_tariff.html", status_code=error.status_code if error else 200, error=error, tariff=tariff, draft=draft,
        zone=zone_name(tariff["tariff"]["utc_offset_minutes"]),
    )


@post("/metering/tariffs/{tariff_id:str}/versions", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def tariff_publish(request: Request[Any, Any, Any], services: Services, user: UserSession, tariff_id: str, data: Form) -> Redirect | Template:
    """A regulator administrator publishes a new version (the contract validates it and keeps
    every earlier one); signed by the administrator's own identity."""
    text = field(data, "tariff").strip()
    try:
        if not text:
            raise BadInput("BAD_TARIFF", "Paste the new version's tariff JSON.")
        _work_order(services, user, "tariffSet", tariff_id, text)
    except AppError as error:
        try:
            return _tariff_view(request, services, user, tariff_id, error, text)
        except AppError:  # no such tariff to show the form on: the refusal itself, not UNKNOWN_TARIFF
            raise error from None
    return go(f"/metering/tariffs/{tariff_id}")


Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _work_order(services: Services, user: UserSession, function: str, *args: str) -> None:
    """alertAck / alertResolve / tariffSet signed by the meter staff's operator identity, else by
    the user's own identity (the contract checks who asks)."""
    identity = metering_staff.staff_identity(services, user) or user.identity
    gateway = services.chain.gateway(identity)
    try:
        gateway.submit(gateway.new_invocation(function, list(args), chaincode=CHAINCODE), [creator_party(identity)])
    except GatewayError as exc:
        raise metering_refusal(exc) from None


@post("/metering/alerts/{alert_id:str}/ack", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def alert_ack(services: Services, user: UserSession, alert_id: str) -> Redirect:
    _work_order(services, user, "alertAck", alert_id)
    return go("/metering/alerts")


@post("/metering/alerts/{alert_id:str}/resolve", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def alert_resolve(services: Services, user: UserSession, alert_id: str, data: Form) -> Redirect:
    """Close the work order; only the SHA-256 of the written evidence goes on the ledger."""
    evidence = field(data, "evidence").strip()
    if not evidence:
        raise BadInput("EVIDENCE_REQUIRED", "Describe what was found and done (its SHA-256 is recorded).")
    _work_order(services, user, "alertResolve", alert_id, hashlib.sha256(evidence.encode("utf-8")).hexdigest())
    return go("/metering/alerts")


@get("/metering/staff", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def staff_page(request: Request[Any, Any, Any], services: Services) -> Template:
    """Who is meter staff (operator) in the console, and the form to grant or revoke it."""
    return page(request, "metering_staff.html", staff=metering_staff.all_staff(services))


@post("/metering/staff/grant", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def staff_grant(services: Services, user: UserSession, data: Form) -> Redirect:
    metering_staff.grant(services, field(data, "username").strip(), user.username)
    return go("/metering/staff")


@post("/metering/staff/{username:str}/revoke", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def staff_revoke(services: Services, username: str) -> Redirect:
    metering_staff.revoke(services, username)
    return go("/metering/staff")


ROUTES = [staff_page, staff_grant, staff_revoke, meters_page, meter_page, bill_page, alerts_page, tariff_page, tariff_publish, alert_ack, alert_resolve]
