"""`gridledger meters simulate`: N meters of an organization, D local days of signed daily batches.

Meters are `<ORG>-M0001`... on the shipped tariff (registered if needed); each day every
meter's batch is ordered together with the others' (one meter's batches stay in sequence:
each extends that meter's chain), then the round is awaited.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaincode.metering.tariffs import DEFAULT_TARIFF_ID
from chaincode.metering.tools.client import MeteringClient
from chaincode.metering.tools.loads import day_readings, inject_anomalies, profile_of

if TYPE_CHECKING:
    from ledger.node.network import Network

REGIONS = ("CN-32-01", "CN-32-02", "CN-32-05", "CN-11-01")  # Nanjing, Wuxi, Suzhou, Beijing
METERS_MAX = 10_000
DAYS_MAX = 366


@dataclass
class SimulationReport:
    meters: list[str] = field(default_factory=list)
    batches: int = 0
    readings: int = 0
    alerts: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"meters": self.meters, "batches": self.batches, "readings": self.readings, "alerts": self.alerts, "refused": dict(self.refused)}


def meter_id_of(org: str, index: int) -> str:
    return f"{org.upper()}-M{index + 1:04d}"


def simulate(
    net: "Network", *, meters: int, days: int, start: dt.date, anomalies: bool, seed: int, org: str = "Org1",
    on_batch: Callable[[], None] | None = None,
) -> SimulationReport:
    """Register (if needed) and feed `meters` meters for `days` local days from `start`."""
    assert 0 < meters <= METERS_MAX and 0 < days <= DAYS_MAX, "checked by the CLI"
    client = MeteringClient(net, org)
    offset = client.query("queryTariff", DEFAULT_TARIFF_ID)["tariff"]["utc_offset_minutes"]
    rng = random.Random(seed)
    report = SimulationReport()
    handles = []
    for index in range(meters):
        profile = profile_of(index)
        meter_id = meter_id_of(org, index)
        handles.append((client.ensure_meter(meter_id, customer=f"customer-{meter_id}", rated_kw=profile.rated_kw, region=REGIONS[index % len(REGIONS)], voltage_kv=profile.voltage_kv), profile))
        report.meters.append(meter_id)
    first_day = calendar.timegm(start.timetuple()) // 60 - offset  # local midnight in UTC minutes
    for day in range(days):
        batches = []
        for handle, profile in handles:
            readings = day_readings(profile, first_day + day * 1440, offset, rng)
            if anomalies and day == 0:
                inject_anomalies(readings, profile.rated_kw, rng)
            batches.append((handle, readings))
        for (_, readings), outcome in zip(batches, client.submit_round(batches)):
            if outcome.ok:
                report.batches += 1
                report.readings += len(readings)
                report.alerts += len(outcome.result["alerts"])
            else:
                report.refused[outcome.code] += 1
            if on_batch is not None:
                on_batch()
    return report
