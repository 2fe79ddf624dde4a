"""A month's bill from its readings and tariff: pure integer arithmetic, half-up to a fen.

Lines, each `amount_fen` rounded half up:
  - energy, one per band (tariff order): sum of wh x price of the intervals whose local start
    hour is in the band, / 100,000 (Wh x 1/10,000 CNY per kWh = 1/100,000 fen);
  - tier, one per tier this month's Wh touch: the Wh of the month inside the tier's cumulative
    annual range (prior Wh since 1 January, local) x surcharge / 100,000;
  - power factor, when pf = Σwh / sqrt((Σwh)² + (Σvarh)²) is below the standard: the energy
    lines' total x 0.5 % for every started 0.01 below it (compared exactly, no floats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from chaincode.metering.clock import local_hour
from chaincode.metering.rules import power_factor
from chaincode.metering.tariffs import pf_standard

FEN_DIVISOR = 100_000  # Wh x (1/10,000 CNY per kWh) in fen
WH_PER_KWH = 1_000
PF_STEP = Fraction(1, 100)  # "every started 0.01 below the standard"
PF_PERMILLE_PER_STEP = 5  # 0.5 %


@dataclass(frozen=True, slots=True)
class Interval:
    start: int  # UTC epoch minutes
    wh: int
    varh: int


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both >= 0, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def pf_steps(wh: int, varh: int, standard: Fraction) -> int:
    """How many started 0.01 steps pf lies below `standard` (0 when it does not, or no energy)."""
    if wh <= 0:
        return 0
    square_sum = wh * wh + varh * varh

    def at_least(level: Fraction) -> bool:  # pf >= level, exactly: pf² >= level² when level > 0
        return level <= 0 or wh * wh >= level * level * square_sum

    if at_least(standard):
        return 0
    steps = 1
    while not at_least(standard - steps * PF_STEP):
        steps += 1
    return steps


def bill_lines(intervals: Sequence[Interval], tariff: dict[str, Any], year_wh_before: int) -> tuple[list[dict[str, Any]], int]:
    """(lines, total_fen) for one month's intervals under `tariff`."""
    offset = tariff["utc_offset_minutes"]
    band_of_hour = {hour: index for index, band in enumerate(tariff["tou"]) for hour in band["hours"]}
    band_wh = [0] * len(tariff["tou"])
    total_wh = total_varh = 0
    for interval in intervals:
        band_wh[band_of_hour[local_hour(interval.start, offset)]] += interval.wh
        total_wh += interval.wh
        total_varh += interval.varh
    lines: list[dict[str, Any]] = []
    for band, wh in zip(tariff["tou"], band_wh):
        lines.append({"kind": "energy", "band": band["band"], "wh": wh, "price": band["price"], "amount_fen": div_half_up(wh * band["price"], FEN_DIVISOR)})
    energy_fen = sum(line["amount_fen"] for line in lines)
    low = 0
    for index, tier in enumerate(tariff["tiers"]):
        high = None if tier["upto_kwh"] is None else tier["upto_kwh"] * WH_PER_KWH
        month_low, month_high = year_wh_before, year_wh_before + total_wh
        inside = (month_high if high is None else min(high, month_high)) - max(low, month_low)
        if inside > 0:
            amount = div_half_up(inside * tier["surcharge"], FEN_DIVISOR)
            lines.append({"kind": "tier", "tier": index + 1, "upto_kwh": tier["upto_kwh"], "wh": inside, "surcharge": tier["surcharge"], "amount_fen": amount})
        low = high if high is not None else low
    standard = pf_standard(tariff)
    steps = pf_steps(total_wh, total_varh, standard)
    if steps:
        permille = PF_PERMILLE_PER_STEP * steps
        lines.append({
            "kind": "power_factor", "pf": power_factor(total_wh, total_varh), "standard": tariff["pf_standard"],
            "steps": steps, "permille": permille, "base_fen": energy_fen, "amount_fen": div_half_up(energy_fen * permille, 1000),
        })
    return lines, sum(line["amount_fen"] for line in lines)
