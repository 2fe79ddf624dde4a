"""Who may read a meter's data (readings, chain, alerts, bills) — regulators at three levels (seed 004).

| reader                                   | sees                                               |
|------------------------------------------|----------------------------------------------------|
| a customer (role customer, customerRef)  | the meters with that customerRef, nothing else     |
| any identity of the meter's organization | its organization's meters                          |
| regulator, level national                | every meter                                        |
| regulator, level province, region R      | meters in R or below it (R, R-...)                 |
| regulator, level city, region R          | meters in R at or below 10 kV                      |
| anyone else (other orgs, no level)       | nothing: NOT_IN_SCOPE                              |
Regions are hierarchical codes joined by "-" (CN, CN-32, CN-32-01). A customer identity is
issued by the meter's organization (the console does it for a customer it has linked) and
only reads: every write refuses it.
"""

from __future__ import annotations

from typing import Any

from chaincode.metering.errors import CITY_VOLTAGE_V_MAX, CUSTOMER_ROLE, Code
from chaincode.shim import refuse
from ledger.core.identity import Identity

NATIONAL, PROVINCE, CITY = "national", "province", "city"
LEVELS = (NATIONAL, PROVINCE, CITY)


def in_region(region: str, scope: str) -> bool:
    return region == scope or region.startswith(scope + "-")


def scope_problem(reader: Identity, meter: dict[str, Any], regulator_org: str) -> str:
    """Why `reader` may not read `meter` ("" when it may)."""
    if reader.role == CUSTOMER_ROLE:
        if reader.org == meter["org"] and reader.attribute("customerRef") == meter.get("customerRef"):
            return ""
        return f"{reader.id} is a customer and {meter['meterId']} is not its meter"
    if reader.org == meter["org"]:
        return ""
    if reader.org != regulator_org:
        return f"{reader.id} is not of {meter['org']} nor a regulator"
    level, region = reader.attribute("level"), reader.attribute("region") or ""
    if level == NATIONAL:
        return ""
    if level == PROVINCE and region and in_region(meter["region"], region):
        return ""
    if level == CITY and region and meter["region"] == region and meter["voltage_v"] <= CITY_VOLTAGE_V_MAX:
        return ""
    if level not in LEVELS:
        return f"{reader.id} carries no regulator level (national, province or city)"
    return f"meter {meter['meterId']} ({meter['region']}, {meter['voltageKv']} kV) is outside the {level} scope of {reader.id} ({region or 'no region'})"


def require_scope(reader: Identity, meter: dict[str, Any], regulator_org: str) -> None:
    problem = scope_problem(reader, meter, regulator_org)
    if problem:
        raise refuse(Code.NOT_IN_SCOPE, problem)


def require_org(reader: Identity, meter: dict[str, Any], *, admin: bool = False) -> None:
    """Writes for a meter come from its own organization (its admin, where `admin`)."""
    if reader.org != meter["org"] or reader.role == CUSTOMER_ROLE or (admin and reader.role != "admin"):
        who = f"an administrator of {meter['org']}" if admin else f"an identity of {meter['org']}"
        raise refuse(Code.NOT_AUTHORIZED, f"only {who} may do this for meter {meter['meterId']}; {reader.id} ({reader.role}) asked")


def require_settler(reader: Identity, meter: dict[str, Any], regulator_org: str) -> None:
    """A month is settled by the meter's own organization or by an administrator of the
    regulator (who settles a period for every company from the console)."""
    if (reader.org == meter["org"] and reader.role != CUSTOMER_ROLE) or (reader.org == regulator_org and reader.role == "admin"):
        return
    raise refuse(Code.NOT_AUTHORIZED, f"meter {meter['meterId']} is settled by {meter['org']} or an administrator of {regulator_org}; {reader.id} ({reader.role}) asked")
