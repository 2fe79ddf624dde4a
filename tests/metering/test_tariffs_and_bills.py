"""Tariffs (validated, versioned) and bills: hand-computed months, refusals, and a hypothesis
property that a bill equals an independent computation (Decimal and datetime, no shared code)."""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meterkit import World, iso, reading, utc_minutes

from chaincode.metering.billing import div_half_up
from chaincode.metering.tariffs import DEFAULT_TARIFF, DEFAULT_TARIFF_ID


def tariff_json(**change: Any) -> str:
    tariff = copy.deepcopy(DEFAULT_TARIFF)
    tariff.update(tariffId="T1", **change)
    return json.dumps(tariff)


def month_bounds(year: int, month: int, offset: int) -> tuple[int, int]:
    start = utc_minutes(f"{year:04d}-{month:02d}-01T00:00:00Z") - offset
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    return start, utc_minutes(f"{ny:04d}-{nm:02d}-01T00:00:00Z") - offset


def fill_month(world: World, meter: Any, year: int, month: int, offset: int, values: Any) -> None:
    """Submit every interval of a local month in batches of a day (96 intervals)."""
    start, end = month_bounds(year, month, offset)
    minutes = list(range(start, end, 15))
    for i in range(0, len(minutes), 96):
        world.submit(meter, [reading(m, *values(m)) for m in minutes[i:i + 96]])


def test_default_tariff_and_versions() -> None:
    world = World()
    shipped = world.ok("Org1/collector", "queryTariff", DEFAULT_TARIFF_ID)
    assert shipped["version"] == 0 and sorted(b["band"] for b in shipped["tariff"]["tou"]) == ["critical", "flat", "peak", "valley"]
    assert [t["surcharge"] for t in shipped["tariff"]["tiers"]] == [0, 500, 3000]
    assert world.call("Org1/collector", "queryTariff", "T1") == (False, "UNKNOWN_TARIFF")
    first = world.ok("Regulator/admin", "tariffSet", "T1", tariff_json())
    second = world.ok("Regulator/admin", "tariffSet", "T1", tariff_json(effective_from="2026-06-01", pf_standard=0.85))
    assert (first["version"], second["version"]) == (1, 2) and first["hash"] != second["hash"]
    answer = world.ok("Org2/collector", "queryTariff", "T1")
    assert answer["version"] == 2 and [v["version"] for v in answer["versions"]] == [1, 2]
    assert world.ok("Regulator/admin", "tariffSet", DEFAULT_TARIFF_ID, json.dumps(DEFAULT_TARIFF))["version"] == 1
    # A version never reaches back past the newest one (same day: allowed, it supersedes it).
    assert world.call("Regulator/admin", "tariffSet", "T1", tariff_json(effective_from="2026-05-31")) == (False, "TARIFF_NOT_LATER")
    assert world.ok("Regulator/admin", "tariffSet", "T1", tariff_json(effective_from="2026-06-01"))["version"] == 3


def _bands(*groups: list[int]) -> list[dict[str, Any]]:
    return [{"band": f"b{i}", "hours": hours, "price": 1000} for i, hours in enumerate(groups)]


TARIFF_REFUSALS = [
    ("not JSON", "T1", "{", "Regulator/admin", "BAD_TARIFF"),
    ("id differs from the document", "T2", tariff_json(), "Regulator/admin", "BAD_TARIFF"),
    ("an extra field", "T1", json.dumps({**json.loads(tariff_json()), "vat": 13}), "Regulator/admin", "BAD_TARIFF"),
    ("an hour missing", "T1", tariff_json(tou=_bands(list(range(23)))), "Regulator/admin", "TARIFF_BANDS_INVALID"),
    ("an hour twice", "T1", tariff_json(tou=_bands(list(range(24)), [5])), "Regulator/admin", "TARIFF_BANDS_INVALID"),
    ("hour 24", "T1", tariff_json(tou=_bands(list(range(1, 25)))), "Regulator/admin", "TARIFF_BANDS_INVALID"),
    ("negative price", "T1", tariff_json(tou=[{"band": "all", "hours": list(range(24)), "price": -1}]), "Regulator/admin", "BAD_TARIFF"),
    ("fractional price", "T1", tariff_json(tou=[{"band": "all", "hours": list(range(24)), "price": 0.5}]), "Regulator/admin", "BAD_TARIFF"),
    ("tiers not rising", "T1", tariff_json(tiers=[{"upto_kwh": 10, "surcharge": 0}, {"upto_kwh": 5, "surcharge": 0}, {"upto_kwh": None, "surcharge": 0}]), "Regulator/admin", "BAD_TARIFF"),
    ("last tier closed", "T1", tariff_json(tiers=[{"upto_kwh": 10, "surcharge": 0}]), "Regulator/admin", "BAD_TARIFF"),
    ("pf standard above 1", "T1", tariff_json(pf_standard=1.2), "Regulator/admin", "BAD_TARIFF"),
    ("offset not a quarter hour", "T1", tariff_json(utc_offset_minutes=20), "Regulator/admin", "BAD_TARIFF"),
    ("bad date", "T1", tariff_json(effective_from="2026-02-30"), "Regulator/admin", "BAD_TARIFF"),
    ("a grid company admin", "T1", tariff_json(), "Org1/admin", "NOT_AUTHORIZED"),
    ("a regulator client", "T1", tariff_json(), "Regulator/collector", "NOT_AUTHORIZED"),
    ("the default's offset changed", DEFAULT_TARIFF_ID, json.dumps({**DEFAULT_TARIFF, "utc_offset_minutes": 0}), "Regulator/admin", "BAD_TARIFF"),
    ("another currency", "T1", tariff_json(currency="USD"), "Regulator/admin", "BAD_TARIFF"),
    ("reaching back past the default", DEFAULT_TARIFF_ID, json.dumps({**DEFAULT_TARIFF, "effective_from": "2025-12-31"}), "Regulator/admin", "TARIFF_NOT_LATER"),
]


@pytest.mark.parametrize(("case", "tariff_id", "text", "who", "code"), TARIFF_REFUSALS, ids=[c[0] for c in TARIFF_REFUSALS])
def test_tariff_refusals(case: str, tariff_id: str, text: str, who: str, code: str) -> None:
    world = World()
    assert world.call(who, "tariffSet", tariff_id, text) == (False, code)
    assert world.ledger.state == {}, case


def test_half_up_rounding() -> None:
    assert [div_half_up(n, 10) for n in (0, 4, 5, 14, 15, 25)] == [0, 0, 1, 1, 2, 3]


def test_hand_computed_bill_then_refusals() -> None:
    """November 2026 (local +8), 250 Wh in every interval on the shipped tariff:
    critical 2 h, peak 6 h, flat 8 h, valley 8 h -> 4008 + 10224 + 11712 + 6912 = 32856 fen.
    2,500 kWh before (October) push 460 kWh into tier 2 (500 x 460,000 / 100,000 = 2300 fen);
    varh 150 gives pf 0.8575, 5 started steps under 0.90 -> 2.5 % of 32856 = 821.4 -> 821 fen."""
    world = World()
    meter = world.register("M1", rated_kw="100000")
    world.submit(meter, [reading("2026-10-15T00:00:00Z", wh=2_500_000)])
    assert world.call("Org1/admin", "settle", "M1", "2026-11") == (False, "READINGS_INCOMPLETE")
    fill_month(world, meter, 2026, 11, 480, lambda m: (250, 150, 1000))
    bill = world.ok("Org1/collector", "settle", "M1", "2026-11")
    energy = {line["band"]: line["amount_fen"] for line in bill["lines"] if line["kind"] == "energy"}
    assert energy == {"critical": 4008, "peak": 10224, "flat": 11712, "valley": 6912}
    tiers = [(line["tier"], line["wh"], line["amount_fen"]) for line in bill["lines"] if line["kind"] == "tier"]
    assert tiers == [(1, 260_000, 0), (2, 460_000, 2300)]
    pf_line = next(line for line in bill["lines"] if line["kind"] == "power_factor")
    assert (pf_line["steps"], pf_line["permille"], pf_line["amount_fen"]) == (5, 25, 821)
    assert bill["total_fen"] == 32856 + 2300 + 821 and bill["intervals"] == 2880 and bill["year_wh_before"] == 2_500_000
    assert bill["tariff_hash"] == world.ok("Org1/collector", "queryTariff", DEFAULT_TARIFF_ID)["hash"]
    assert world.ok("Org1/collector", "queryBill", "M1", "2026-11") == bill
    assert world.call("Org1/collector", "settle", "M1", "2026-11") == (False, "BILL_EXISTS")
    assert world.call("Org2/admin", "settle", "M1", "2026-12") == (False, "NOT_AUTHORIZED")
    assert world.call("Regulator/collector", "settle", "M1", "2026-12") == (False, "NOT_AUTHORIZED")  # a regulator client
    assert world.call(world.regulator("national", "CN"), "settle", "M1", "2026-12") == (False, "NOT_AUTHORIZED")  # a reader, not an admin
    assert world.call("Regulator/admin", "settle", "M1", "2026-11") == (False, "BILL_EXISTS")  # the regulator's admin may settle
    assert world.call("Regulator/admin", "settle", "M1", "2026-12") == (False, "READINGS_INCOMPLETE")
    assert world.call("Org1/collector", "settle", "M1", "2026-13") == (False, "BAD_PERIOD")
    assert world.call("Org1/collector", "queryBill", "M1", "2026-10") == (False, "UNKNOWN_BILL")
    settled = [json.loads(p) for name, p in world.ledger.events if name == "settle"]
    assert settled == [{"meterId": "M1", "period": "2026-11", "total_fen": bill["total_fen"], "tariffId": DEFAULT_TARIFF_ID, "tariff_version": 0, "tariff_hash": bill["tariff_hash"]}]


def test_bill_uses_the_version_in_force() -> None:
    world = World()
    world.ok("Regulator/admin", "tariffSet", "T1", tariff_json(effective_from="2026-01-01"))
    world.ok("Regulator/admin", "tariffSet", "T1", tariff_json(effective_from="2026-12-01", tou=[{"band": "all", "hours": list(range(24)), "price": 10000}]))
    world.ok("Regulator/admin", "tariffSet", "T1", tariff_json(effective_from="2027-05-01"))
    meter = world.register("M1", tariff="T1")
    fill_month(world, meter, 2026, 11, 480, lambda m: (100, 0, 0))
    fill_month(world, meter, 2026, 12, 480, lambda m: (100, 0, 0))
    assert world.ok("Org1/admin", "settle", "M1", "2026-11")["tariff_version"] == 1
    december = world.ok("Org1/admin", "settle", "M1", "2026-12")
    assert december["tariff_version"] == 2 and december["lines"][0] == {"kind": "energy", "band": "all", "wh": 297_600, "price": 10000, "amount_fen": 29760}
    assert world.call("Org1/admin", "settle", "M1", "2025-12") == (False, "TARIFF_NOT_EFFECTIVE")


# --- the property: the contract's bill equals an independent computation --------------------


def independent_bill(rows: list[tuple[int, int, int]], tariff: dict[str, Any], prior_wh: int) -> dict[str, Any]:
    """From the readings (UTC minutes, wh, varh) and the tariff alone, with Decimal and datetime."""
    zone = timezone(timedelta(minutes=tariff["utc_offset_minutes"]))
    per_band = {band["band"]: 0 for band in tariff["tou"]}
    for minutes, wh, _ in rows:
        hour = datetime.fromtimestamp(minutes * 60, tz=zone).hour
        band = next(b for b in tariff["tou"] if hour in b["hours"])
        per_band[band["band"]] += wh * band["price"]
    fen = lambda value: int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))  # noqa: E731
    energy = [fen(Decimal(v) / 100_000) for v in per_band.values()]
    month_wh = sum(r[1] for r in rows)
    tiers, lower = [], Decimal(0)
    for number, tier in enumerate(tariff["tiers"], start=1):
        upper = Decimal("Infinity") if tier["upto_kwh"] is None else Decimal(tier["upto_kwh"])
        kwh_in = min(upper, Decimal(prior_wh + month_wh) / 1000) - max(lower, Decimal(prior_wh) / 1000)
        if kwh_in > 0:
            tiers.append((number, int(kwh_in * 1000), fen(kwh_in * 1000 * tier["surcharge"] / 100_000)))
        lower = upper
    pf_amount = None
    total_varh = sum(r[2] for r in rows)
    if month_wh:
        with localcontext() as ctx:
            ctx.prec = 80
            pf = Decimal(month_wh) / (Decimal(month_wh) ** 2 + Decimal(total_varh) ** 2).sqrt()
            standard = Decimal(str(tariff["pf_standard"]))
            if pf < standard:
                steps = int(((standard - pf) / Decimal("0.01")).to_integral_value(rounding=ROUND_CEILING))
                pf_amount = fen(Decimal(sum(energy)) * Decimal("0.005") * steps)
    return {"energy": energy, "tiers": tiers, "pf": pf_amount, "total": sum(energy) + sum(t[2] for t in tiers) + (pf_amount or 0)}


@st.composite
def tariffs(draw: st.DrawFn) -> dict[str, Any]:
    hours = draw(st.permutations(list(range(24))))
    cuts = sorted(draw(st.sets(st.integers(1, 23), max_size=3)))
    groups = [sorted(hours[a:b]) for a, b in zip([0, *cuts], [*cuts, 24])]
    bounds = sorted(draw(st.sets(st.integers(1, 3000), max_size=2)))
    tier_list = [{"upto_kwh": b, "surcharge": draw(st.integers(0, 5000))} for b in bounds] + [{"upto_kwh": None, "surcharge": draw(st.integers(0, 5000))}]
    return {
        "tariffId": "P1", "currency": "CNY", "utc_offset_minutes": draw(st.sampled_from([0, 480, -300, 330])),
        "tou": [{"band": f"band{i}", "hours": g, "price": draw(st.integers(0, 20000))} for i, g in enumerate(groups)],
        "tiers": tier_list, "pf_standard": draw(st.sampled_from([0.9, 0.85, 0.95, 0.8875, 1])), "effective_from": "2026-01-01",
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tariff=tariffs(), seed=st.integers(0, 2**32), prior_wh=st.integers(0, 3_000_000), reactive=st.integers(0, 3))
def test_bill_equals_independent_computation(tariff: dict[str, Any], seed: int, prior_wh: int, reactive: int) -> None:
    """February 2026 in the tariff's local time, random loads; prior consumption in January."""
    world = World()
    world.ok("Regulator/admin", "tariffSet", "P1", json.dumps(tariff))
    meter = world.register("M1", tariff="P1", rated_kw="100000")
    jan_start, _ = month_bounds(2026, 1, tariff["utc_offset_minutes"])
    if prior_wh:
        world.submit(meter, [reading(iso(jan_start + 600), wh=prior_wh, varh=0, peak_w=0)])
    rng = random.Random(seed)
    values = {m: (rng.randrange(0, 2000), rng.randrange(0, 700 * reactive + 1), 0) for m in range(*month_bounds(2026, 2, tariff["utc_offset_minutes"]), 15)}
    fill_month(world, meter, 2026, 2, tariff["utc_offset_minutes"], lambda m: values[m])
    bill = world.ok("Org1/admin", "settle", "M1", "2026-02")
    expected = independent_bill([(m, wh, varh) for m, (wh, varh, _) in sorted(values.items())], tariff, prior_wh)
    assert [line["amount_fen"] for line in bill["lines"] if line["kind"] == "energy"] == expected["energy"]
    assert [(line["tier"], line["wh"], line["amount_fen"]) for line in bill["lines"] if line["kind"] == "tier"] == expected["tiers"]
    assert next((line["amount_fen"] for line in bill["lines"] if line["kind"] == "power_factor"), None) == expected["pf"]
    assert bill["total_fen"] == expected["total"]
