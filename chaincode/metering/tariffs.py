"""Tariffs: their validation, the shipped default, and the hash regulators see.

A tariff is `{"tariffId", "currency", "utc_offset_minutes", "tou": [{"band", "hours", "price"}],
"tiers": [{"upto_kwh", "surcharge"}], "pf_standard", "effective_from"}`. Prices and surcharges
are integers in 1/10,000 CNY per kWh; the bands' local hours cover the day exactly once;
tiers are cumulative annual kWh with strictly rising bounds and a last open tier (null).
"""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction
from typing import Any

from chaincode.metering.checks import json_document
from chaincode.metering.clock import parse_date
from chaincode.metering.errors import ID_PATTERN, INTERVAL_MIN, PRICE_MAX, TARIFF_BANDS_MAX, TARIFF_BYTES_MAX, TARIFF_TIERS_MAX, Code
from chaincode.shim import canonical_json, refuse

DEFAULT_TARIFF_ID = "CN-RES-TOU"
TARIFF_FIELDS = frozenset({"tariffId", "currency", "utc_offset_minutes", "tou", "tiers", "pf_standard", "effective_from"})
UTC_OFFSET_MINUTES_MIN, UTC_OFFSET_MINUTES_MAX = -12 * 60, 14 * 60
PF_DECIMALS_MAX = 4
UPTO_KWH_MAX = 10**9
_ID = re.compile(ID_PATTERN)
_BAND = re.compile(r"[a-z][a-z0-9_-]{0,23}")
TARIFF_CURRENCY = "CNY"  # the unit of every price, surcharge and bill amount (fen)

# Modelled on published Chinese residential time-of-use tariffs (e.g. Jiangsu, Zhejiang):
# a critical peak in the evening, peak, flat and an overnight valley; three annual tiers.
DEFAULT_TARIFF: dict[str, Any] = {
    "tariffId": DEFAULT_TARIFF_ID,
    "currency": "CNY",
    "utc_offset_minutes": 480,
    "tou": [
        {"band": "critical", "hours": [19, 20], "price": 6680},
        {"band": "peak", "hours": [8, 9, 10, 17, 18, 21], "price": 5680},
        {"band": "flat", "hours": [11, 12, 13, 14, 15, 16, 22, 23], "price": 4880},
        {"band": "valley", "hours": [0, 1, 2, 3, 4, 5, 6, 7], "price": 2880},
    ],
    "tiers": [{"upto_kwh": 2760, "surcharge": 0}, {"upto_kwh": 4800, "surcharge": 500}, {"upto_kwh": None, "surcharge": 3000}],
    "pf_standard": 0.9,
    "effective_from": "2026-01-01",
}


def tariff_hash(tariff: dict[str, Any]) -> str:
    """SHA-256 of the tariff's canonical JSON: what a bill and the settlement event name."""
    return hashlib.sha256(canonical_json(tariff)).hexdigest()


def pf_standard(tariff: dict[str, Any]) -> Fraction:
    return Fraction(str(tariff["pf_standard"]))


def parse_tariff(tariff_id: str, tariff_json: str) -> dict[str, Any]:
    """The tariff document, fully checked; BAD_TARIFF or TARIFF_BANDS_INVALID otherwise."""
    tariff = json_document(tariff_json, code=Code.BAD_TARIFF, what="tariff", max_bytes=TARIFF_BYTES_MAX, fields=TARIFF_FIELDS, fields_rule="has exactly the fields")
    if tariff["tariffId"] != tariff_id:
        raise refuse(Code.BAD_TARIFF, f"the document's tariffId {tariff['tariffId']!r} differs from {tariff_id!r}")
    if tariff["currency"] != TARIFF_CURRENCY:
        raise refuse(Code.BAD_TARIFF, f"currency is {TARIFF_CURRENCY}: prices are in 1/10,000 {TARIFF_CURRENCY} per kWh and bills in fen")
    offset = tariff["utc_offset_minutes"]
    if not _is_int(offset) or not UTC_OFFSET_MINUTES_MIN <= offset <= UTC_OFFSET_MINUTES_MAX or offset % INTERVAL_MIN:
        raise refuse(Code.BAD_TARIFF, f"utc_offset_minutes is a whole multiple of {INTERVAL_MIN} from {UTC_OFFSET_MINUTES_MIN} to {UTC_OFFSET_MINUTES_MAX}")
    _check_bands(tariff["tou"])
    _check_tiers(tariff["tiers"])
    _check_pf(tariff["pf_standard"])
    parse_date(tariff["effective_from"], "effective_from")
    return tariff


def _check_bands(bands: Any) -> None:
    if not isinstance(bands, list) or not 1 <= len(bands) <= TARIFF_BANDS_MAX:
        raise refuse(Code.BAD_TARIFF, f"tou is a list of 1 to {TARIFF_BANDS_MAX} bands")
    seen_hours: list[int] = []
    names: set[str] = set()
    for band in bands:
        if not isinstance(band, dict) or set(band) != {"band", "hours", "price"}:
            raise refuse(Code.BAD_TARIFF, "each band has exactly band, hours and price")
        name, hours, price = band["band"], band["hours"], band["price"]
        if not isinstance(name, str) or not _BAND.fullmatch(name) or name in names:
            raise refuse(Code.BAD_TARIFF, f"band names are distinct lowercase words, got {name!r}")
        names.add(name)
        if not _is_int(price) or not 0 <= price <= PRICE_MAX:
            raise refuse(Code.BAD_TARIFF, f"band {name} price is a whole number from 0 to {PRICE_MAX} (1/10,000 CNY per kWh)")
        if not isinstance(hours, list) or not hours or not all(_is_int(h) and 0 <= h <= 23 for h in hours):
            raise refuse(Code.TARIFF_BANDS_INVALID, f"band {name} hours are local hours 0 to 23")
        seen_hours.extend(hours)
    if sorted(seen_hours) != list(range(24)):
        twice = sorted({h for h in seen_hours if seen_hours.count(h) > 1})
        missing = sorted(set(range(24)) - set(seen_hours))
        raise refuse(Code.TARIFF_BANDS_INVALID, f"the bands must cover each hour of the day exactly once (twice: {twice}, missing: {missing})")


def _check_tiers(tiers: Any) -> None:
    if not isinstance(tiers, list) or not 1 <= len(tiers) <= TARIFF_TIERS_MAX:
        raise refuse(Code.BAD_TARIFF, f"tiers is a list of 1 to {TARIFF_TIERS_MAX} tiers")
    bound = 0
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict) or set(tier) != {"upto_kwh", "surcharge"}:
            raise refuse(Code.BAD_TARIFF, "each tier has exactly upto_kwh and surcharge")
        upto, surcharge = tier["upto_kwh"], tier["surcharge"]
        last = index == len(tiers) - 1
        if last and upto is not None:
            raise refuse(Code.BAD_TARIFF, "the last tier is open: upto_kwh null")
        if not last and (not _is_int(upto) or not bound < upto <= UPTO_KWH_MAX):
            raise refuse(Code.BAD_TARIFF, "tier bounds (upto_kwh) are whole kWh, strictly rising")
        if not _is_int(surcharge) or not 0 <= surcharge <= PRICE_MAX:
            raise refuse(Code.BAD_TARIFF, f"a tier surcharge is a whole number from 0 to {PRICE_MAX}")
        bound = upto if upto is not None else bound


def _check_pf(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise refuse(Code.BAD_TARIFF, "pf_standard is a number in (0, 1]")
    fraction = Fraction(str(value))
    if not 0 < fraction <= 1 or (fraction * 10**PF_DECIMALS_MAX).denominator != 1:
        raise refuse(Code.BAD_TARIFF, f"pf_standard is a number in (0, 1] with at most {PF_DECIMALS_MAX} decimals")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
