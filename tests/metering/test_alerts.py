"""Anomaly rules as a table (each at and just past its limit), and alerts as work orders."""

from __future__ import annotations

import json

import pytest
from meterkit import World, reading

from chaincode.metering.errors import ALERT_ACK_HOURS, ALERT_ESCALATE_HOURS

A, B = "2026-11-03T10:00:00Z", "2026-11-03T10:15:00Z"  # two consecutive intervals
RATED_KW = "10"  # limit 15,000 W

RULE_CASES = [
    # (case, readings (start, wh, varh, peak_w), expected (start, rule, value, limit))
    ("all quiet", [(A, 1000, 100, 5000)], []),
    ("peak exactly at 150 %", [(A, 1000, 0, 15000)], []),
    ("peak 1 W over 150 %", [(A, 1000, 0, 15001)], [(A, "LOAD_OVER_RATED", 15001, 15000)]),
    ("4 x energy over 150 %", [(A, 3751, 0, 0)], [(A, "LOAD_OVER_RATED", 15004, 15000)]),
    ("4 x energy exactly at 150 %", [(A, 3750, 0, 0)], []),
    ("power factor 0.8499, just under 0.85", [(A, 850, 527, 0)], [(A, "LOW_POWER_FACTOR", 0.8499, 0.85)]),
    ("power factor 0.8 (3-4-5)", [(A, 400, 300, 0)], [(A, "LOW_POWER_FACTOR", 0.8, 0.85)]),
    ("power factor 0.8504, just above 0.85", [(A, 850, 526, 0)], []),
    ("no energy: no power factor alert", [(A, 0, 900, 0)], []),
    ("rise to exactly 4 x", [(A, 100, 0, 0), (B, 400, 0, 0)], []),
    ("rise past 4 x", [(A, 100, 0, 0), (B, 401, 0, 0)], [(B, "SPIKE", 401, 400)]),
    ("rise from zero is no spike", [(A, 0, 0, 0), (B, 900, 0, 0)], []),
    ("two rules on one interval", [(A, 100, 0, 0), (B, 3800, 3000, 0)], [(B, "LOAD_OVER_RATED", 15200, 15000), (B, "LOW_POWER_FACTOR", 0.7849, 0.85), (B, "SPIKE", 3800, 400)]),
]


@pytest.mark.parametrize(("case", "rows", "expected"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rules(case: str, rows: list[tuple[str, int, int, int]], expected: list[tuple[str, str, object, object]]) -> None:
    world = World()
    meter = world.register("M1", rated_kw=RATED_KW)
    result = world.submit(meter, [reading(*row) for row in rows])
    assert [(a["start"], a["rule"], a["value"], a["limit"]) for a in result["alerts"]] == expected
    listed = world.ok("Org1/collector", "listAlerts", "M1")
    assert [(a["start"], a["rule"]) for a in listed] == sorted((e[0], e[1]) for e in expected)
    events = [json.loads(payload) for name, payload in world.ledger.events if name == "meterAlert"]
    assert [(a["start"], a["rule"]) for e in events for a in e["alerts"]] == [(e[0], e[1]) for e in expected]


def test_spike_compares_with_the_previous_batch() -> None:
    world = World()
    meter = world.register("M1")
    world.submit(meter, [reading(A, wh=100)])
    result = world.submit(meter, [reading(B, wh=500)])
    assert [(a["rule"], a["limit"]) for a in result["alerts"]] == [("SPIKE", 400)]


def test_work_order_ack_resolve_and_refusals() -> None:
    world = World()
    meter = world.register("M1")
    alert = world.submit(meter, [reading(A, peak_w=20_000)])["alerts"][0]
    alert_id = alert["alertId"]
    assert alert_id == "M1.20261103T1000.LOAD_OVER_RATED" and alert["status"] == "open"
    assert alert["ackDueAt"] - alert["raisedAt"] == ALERT_ACK_HOURS * 3_600_000
    assert alert["escalatedDueAt"] - alert["raisedAt"] == ALERT_ESCALATE_HOURS * 3_600_000
    evidence = "ab" * 32
    refusals = [
        (("Org2/admin", "alertAck", alert_id), "NOT_AUTHORIZED"),
        (("Org1/collector", "alertAck", "M1.20261103T1000.NOPE"), "UNKNOWN_ALERT"),
        (("Org1/collector", "alertAck", "not-an-id"), "UNKNOWN_ALERT"),
        (("Org1/collector", "alertResolve", alert_id, "not hex"), "BAD_HASH"),
    ]
    for (who, function, *args), code in refusals:
        assert world.call(who, function, *args) == (False, code), (function, args)
    acked = world.ok("Org1/collector", "alertAck", alert_id)
    assert acked["status"] == "acknowledged" and acked["ackBy"] == "Org1/collector"
    assert world.call("Org1/admin", "alertAck", alert_id) == (False, "ALERT_ALREADY_ACKED")
    resolved = world.ok("Org1/admin", "alertResolve", alert_id, evidence)
    assert resolved["status"] == "resolved" and resolved["evidenceSha256"] == evidence
    assert world.call("Org1/admin", "alertResolve", alert_id, evidence) == (False, "ALERT_RESOLVED")
    assert world.call("Org1/admin", "alertAck", alert_id) == (False, "ALERT_RESOLVED")
    assert world.ok("Org1/collector", "listAlerts", "")[0]["status"] == "resolved"
