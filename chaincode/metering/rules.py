"""Anomaly rules (seed 004), run on every interval of a submitted batch.

Comparisons are exact (integers and fractions), so every peer raises the same alerts:
| rule              | fires when                                             | value        | limit            |
|-------------------|--------------------------------------------------------|--------------|------------------|
| LOAD_OVER_RATED   | max(peak_w, 4 * wh) > overload_ratio * rated W         | that max (W) | ratio * rated W  |
| LOW_POWER_FACTOR  | wh > 0 and wh / sqrt(wh^2 + varh^2) < pf_alert         | pf (4 dp)    | pf_alert         |
| SPIKE             | previous interval wh > 0 and wh > spike_ratio * it     | wh           | ratio * previous |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from chaincode.metering.batches import Reading

LOAD_OVER_RATED = "LOAD_OVER_RATED"
LOW_POWER_FACTOR = "LOW_POWER_FACTOR"
SPIKE = "SPIKE"
RULES = (LOAD_OVER_RATED, LOW_POWER_FACTOR, SPIKE)
INTERVALS_PER_HOUR = 4  # Wh in 15 minutes x 4 = average W


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The thresholds (contract parameters, so a network can tune them)."""

    overload_ratio: Fraction = Fraction(3, 2)
    pf_alert: Fraction = Fraction(85, 100)
    spike_ratio: Fraction = Fraction(4)

    @classmethod
    def from_params(cls, overload_ratio: str, pf_alert: str, spike_ratio: str) -> "RuleSet":
        return cls(Fraction(overload_ratio), Fraction(pf_alert), Fraction(spike_ratio))


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    reading: Reading
    value: Any
    limit: Any


def power_factor(wh: int, varh: int) -> float:
    """wh / sqrt(wh^2 + varh^2), for display (rules compare exactly)."""
    return round(wh / math.sqrt(wh * wh + varh * varh), 4) if wh > 0 else 1.0


def _number(value: Fraction) -> int | float:
    return value.numerator if value.denominator == 1 else float(value)


def check_interval(rules: RuleSet, rated_w: int, reading: Reading, previous_wh: int | None) -> list[Finding]:
    """Every rule the interval breaks, in RULES order."""
    found: list[Finding] = []
    load = max(reading.peak_w, INTERVALS_PER_HOUR * reading.wh)
    load_limit = rules.overload_ratio * rated_w
    if load > load_limit:
        found.append(Finding(LOAD_OVER_RATED, reading, load, _number(load_limit)))
    wh, varh = reading.wh, reading.varh
    if wh > 0 and Fraction(wh * wh) < rules.pf_alert**2 * (wh * wh + varh * varh):
        found.append(Finding(LOW_POWER_FACTOR, reading, power_factor(wh, varh), _number(rules.pf_alert)))
    if previous_wh is not None and previous_wh > 0 and wh > rules.spike_ratio * previous_wh:
        found.append(Finding(SPIKE, reading, wh, _number(rules.spike_ratio * previous_wh)))
    return found
