"""Realistic 15-minute load shapes for simulated meters, and the anomalies `--anomalies` injects.

Residential: a low night base, a morning and a larger evening peak. Commercial: business
hours. Both with +-15 % noise and a fixed power factor per kind. Everything comes from one
`random.Random`, so a seed reproduces a simulation exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from chaincode.metering.clock import iso
from chaincode.metering.errors import INTERVAL_MIN, INTERVALS_PER_DAY

NOISE = 0.15
PEAK_OVER_AVERAGE = 1.25  # instantaneous peak within an interval over its average power


@dataclass(frozen=True, slots=True)
class Profile:
    kind: str
    rated_kw: str
    voltage_kv: str
    power_factor: float
    hourly_share: tuple[float, ...]  # fraction of rated power, per local hour


RESIDENTIAL = Profile("residential", "8", "0.4", 0.96, (
    0.05, 0.04, 0.04, 0.04, 0.04, 0.05, 0.10, 0.20, 0.18, 0.10, 0.08, 0.08,
    0.10, 0.08, 0.07, 0.07, 0.10, 0.18, 0.30, 0.35, 0.33, 0.25, 0.15, 0.08,
))
COMMERCIAL = Profile("commercial", "60", "10", 0.92, (
    0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.15, 0.30, 0.55, 0.65, 0.70, 0.70,
    0.60, 0.65, 0.70, 0.70, 0.65, 0.55, 0.35, 0.20, 0.15, 0.12, 0.10, 0.10,
))


def profile_of(index: int) -> Profile:
    """Every fourth simulated meter is commercial, the rest residential."""
    return COMMERCIAL if index % 4 == 3 else RESIDENTIAL


def day_readings(profile: Profile, day_start: int, utc_offset_minutes: int, rng: random.Random) -> list[dict[str, Any]]:
    """The 96 intervals of one local day starting at `day_start` (UTC epoch minutes)."""
    rated_w = float(profile.rated_kw) * 1000
    tan_phi = math.tan(math.acos(profile.power_factor))
    readings = []
    for slot in range(INTERVALS_PER_DAY):
        start = day_start + slot * INTERVAL_MIN
        hour = ((start + utc_offset_minutes) // 60) % 24
        watts = rated_w * profile.hourly_share[hour] * (1 + rng.uniform(-NOISE, NOISE))
        wh = int(watts / 4)
        readings.append({"start": iso(start), "wh": wh, "varh": int(wh * tan_phi), "peak_w": int(watts * PEAK_OVER_AVERAGE)})
    return readings


def inject_anomalies(readings: list[dict[str, Any]], rated_kw: str, rng: random.Random) -> None:
    """One overload, one low power factor and one spike, at distinct intervals of the day."""
    rated_w = int(float(rated_kw) * 1000)
    overload, low_pf, spike = rng.sample(range(1, len(readings)), 3)
    readings[overload]["peak_w"] = 2 * rated_w
    readings[low_pf]["varh"] = max(readings[low_pf]["wh"], 1)
    readings[low_pf]["wh"] = max(readings[low_pf]["wh"], 1)
    before = max(readings[spike - 1]["wh"], 1)
    readings[spike - 1]["wh"] = before
    readings[spike]["wh"] = 5 * before
