"""Seeding for the metering pages: one meter with a whole February 2026 and its bill."""

from __future__ import annotations

import calendar
from typing import Any

from chaincode.metering.clock import iso
from chaincode.metering.tools.client import MeterHandle, MeteringClient

OFFSET_MIN = 480  # the shipped tariff's UTC+8


def feed_month(client: MeteringClient, meter_id: str) -> MeterHandle:
    """Register `meter_id` and feed February 2026 (local) in daily batches."""
    meter = client.ensure_meter(meter_id, customer="browser", rated_kw="8", region="CN-32-01", voltage_kv="0.4")
    start = calendar.timegm((2026, 2, 1, 0, 0, 0)) // 60 - OFFSET_MIN
    for day in range(28):
        readings = [{"start": iso(start + day * 1440 + 15 * q), "wh": 200 + q, "varh": 40, "peak_w": 1200} for q in range(96)]
        if day == 27:
            readings[50]["peak_w"] = 20_000
        assert all(o.ok for o in client.submit_round([(meter, readings)]))
    return meter


def seed_month(client: MeteringClient, meter_id: str) -> dict[str, Any]:
    """Register `meter_id`, feed February 2026 (local) in daily batches, settle it: the bill."""
    feed_month(client, meter_id)
    outcome = dict(client.settle_all("2026-02"))[meter_id]
    assert outcome.ok, outcome
    result: dict[str, Any] = client.query("queryBill", meter_id, "2026-02")
    return result
