"""Who may read a meter's data (readings, chain, alerts, bills) — regulators at three levels (seed 004).

| reader                                         | sees                                           |
|------------------------------------------------|------------------------------------------------|
| a customer (role customer, customerRef)        | the meters with that customerRef, nothing else |
| staff of the meter's organization (`is_staff`) | its organization's meters                      |
| another member of the meter's organization     | nothing: NOT_METER_STAFF                       |
| regulator, level national                      | every meter                                    |
| regulator, level province, region R            | meters in R or below it (R, R-...)             |
| regulator, level city, region R                | meters in R at or below 10 kV                  |
| anyone else (other orgs, no level)             | nothing: NOT_IN_SCOPE                          |
Staff are an organization's admins and the clients its CA issued with attribute
staff=collector or staff=operator: every console sign-up is a client of a grid organization,
and consumption data is personal, so being a member is not enough. Writes for a meter
(readings, alert work orders, settlement) come from its organization's staff too.
Regions are hierarchical codes joined by "-" (CN, CN-32, CN-32-01). A customer identity is
issued by the meter's organization (the console does it for a customer it has linked) and
only reads: every write refuses it.
"""

from __future__ import annotations

from typing import Any

from chaincode.metering.errors import CITY_VOLTAGE_V_MAX, CUSTOMER_ROLE, STAFF_ATTRIBUTE, STAFF_KINDS, Code
from chaincode.shim import refuse
from ledger.core.identity import Identity

NATIONAL, PROVINCE, CITY = "national", "province", "city"
LEVELS = (NATIONAL, PROVINCE, CITY)


def in_region(region: str, scope: str) -> bool:
    return region == scope or region.startswith(scope + "-")


def is_staff(identity: Identity) -> bool:
    """An administrator of its organization, or a client its CA issued as collector or operator."""
    return identity.role == "admin" or (identity.role == "client" and identity.attribute(STAFF_ATTRIBUTE) in STAFF_KINDS)


def _not_staff(reader: Identity, org: str) -> str:
    return (f"{reader.id} ({reader.role}) is a member of {org} but not its meter staff: readings, alerts and bills "
            f"are read and written only by {org}'s administrators and the clients it enrolled with "
            f"{' or '.join(f'{STAFF_ATTRIBUTE}={kind}' for kind in STAFF_KINDS)}")


def scope_refusal(reader: Identity, meter: dict[str, Any], regulator_org: str) -> tuple[Code, str] | None:
    """Why `reader` may not read `meter` (None when it may)."""
    if reader.role == CUSTOMER_ROLE:
        if reader.org == meter["org"] and reader.attribute("customerRef") == meter.get("customerRef"):
            return None
        return Code.NOT_IN_SCOPE, f"{reader.id} is a customer and {meter['meterId']} is not its meter"
    if reader.org == meter["org"]:
        return None if is_staff(reader) else (Code.NOT_METER_STAFF, _not_staff(reader, meter["org"]))
    if reader.org != regulator_org:
        return Code.NOT_IN_SCOPE, f"{reader.id} is not of {meter['org']} nor a regulator"
    level, region = reader.attribute("level"), reader.attribute("region") or ""
    if level == NATIONAL:
        return None
    if level == PROVINCE and region and in_region(meter["region"], region):
        return None
    if level == CITY and region and meter["region"] == region and meter["voltage_v"] <= CITY_VOLTAGE_V_MAX:
        return None
    if level not in LEVELS:
        return Code.NOT_IN_SCOPE, f"{reader.id} carries no regulator level (national, province or city)"
    return Code.NOT_IN_SCOPE, f"meter {meter['meterId']} ({meter['region']}, {meter['voltageKv']} kV) is outside the {level} scope of {reader.id} ({region or 'no region'})"


def scope_problem(reader: Identity, meter: dict[str, Any], regulator_org: str) -> str:
    """Why `reader` may not read `meter` ("" when it may): what list answers filter by."""
    refusal = scope_refusal(reader, meter, regulator_org)
    return "" if refusal is None else refusal[1]


def require_scope(reader: Identity, meter: dict[str, Any], regulator_org: str) -> None:
    refusal = scope_refusal(reader, meter, regulator_org)
    if refusal is not None:
        raise refuse(*refusal)


def require_lister(reader: Identity, regulator_org: str) -> None:
    """A list of meters, alerts or bills is refused outright to a member of a grid organization
    that is not its staff (rather than answered empty): the console then says why."""
    if reader.org != regulator_org and reader.role != CUSTOMER_ROLE and not is_staff(reader):
        raise refuse(Code.NOT_METER_STAFF, _not_staff(reader, reader.org))


def require_org(reader: Identity, meter: dict[str, Any], *, admin: bool = False) -> None:
    """Writes for a meter come from its own organization's staff (its admin, where `admin`)."""
    if reader.org == meter["org"] and reader.role != CUSTOMER_ROLE and not admin and not is_staff(reader):
        raise refuse(Code.NOT_METER_STAFF, _not_staff(reader, meter["org"]))
    if reader.org != meter["org"] or reader.role == CUSTOMER_ROLE or (admin and reader.role != "admin"):
        who = f"an administrator of {meter['org']}" if admin else f"the staff of {meter['org']}"
        raise refuse(Code.NOT_AUTHORIZED, f"only {who} may do this for meter {meter['meterId']}; {reader.id} ({reader.role}) asked")


def require_settler(reader: Identity, meter: dict[str, Any], regulator_org: str) -> None:
    """A month is settled by the meter's own organization's staff or by an administrator of the
    regulator (who settles a period for every company from the console)."""
    if (reader.org == meter["org"] and is_staff(reader)) or (reader.org == regulator_org and reader.role == "admin"):
        return
    if reader.org == meter["org"] and reader.role != CUSTOMER_ROLE:
        raise refuse(Code.NOT_METER_STAFF, _not_staff(reader, meter["org"]))
    raise refuse(Code.NOT_AUTHORIZED, f"meter {meter['meterId']} is settled by {meter['org']}'s staff or an administrator of {regulator_org}; {reader.id} ({reader.role}) asked")
