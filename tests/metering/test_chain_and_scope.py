"""The chain check after tampering with stored batches, and the three regulator levels."""

from __future__ import annotations

import json
from typing import Any

import pytest
from meterkit import World, reading

from chaincode.metering.keys import batch_key, head_key, month_key, reading_key
from chaincode.shim import canonical_json


def _chained_world() -> World:
    world = World()
    meter = world.register("M1")
    for day in (1, 2, 3):
        world.submit(meter, [reading(f"2026-11-0{day}T00:00:00Z"), reading(f"2026-11-0{day}T00:15:00Z")])
    return world


def _edit(world: World, key: str, change: Any) -> None:
    stored = json.loads(world.ledger.state[key])
    change(stored)
    world.ledger.state[key] = canonical_json(stored)


TAMPERS = [
    # (case, key, change, problems expected (seq, words in the problem))
    ("a reading's energy raised", batch_key("M1", 2), lambda s: s["batch"]["readings"][0].update(wh=1), [(2, "signature"), (3, "prev")]),
    ("a reading removed", batch_key("M1", 1), lambda s: s["batch"]["readings"].pop(), [(1, "signature"), (2, "prev")]),
    ("the signature replaced", batch_key("M1", 3), lambda s: s["batch"].update(sig="00" * 64), [(3, "signature"), ("head", "head")]),
    ("re-linked to nothing", batch_key("M1", 2), lambda s: s["batch"].update(prev=""), [(2, "signature"), (2, "prev"), (3, "prev")]),
    ("sequence renumbered", batch_key("M1", 3), lambda s: s["batch"].update(seq=7), [(7, "sequence"), (7, "signature"), ("head", "head")]),
    ("head moved back", head_key("M1"), lambda s: s.update(seq=2), [("head", "head")]),
]


def test_chain_check_finds_every_tampering() -> None:
    tried = held = 0
    for case, key, change, expected in TAMPERS:
        world = _chained_world()
        assert world.ok("Org1/collector", "verifyMeterChain", "M1")["ok"] is True
        _edit(world, key, change)
        report = world.ok("Org1/collector", "verifyMeterChain", "M1")
        found = [("head" if p["key"].startswith("h/") else p["seq"], p["problem"]) for p in report["problems"]]
        tried += 1
        if not report["ok"] and [s for s, _ in found] == [s for s, _ in expected] and all(w in p for (_, w), (_, p) in zip(expected, found)):
            held += 1
        else:
            print(f"{case}: {found}")
    assert (tried, held) == (len(TAMPERS), len(TAMPERS))


RECORD_TAMPERS = [
    # (case, how the state is changed, (key, words) of the one problem expected)
    ("a reading record's energy edited", lambda s: _edit_in(s, reading_key("M1", "2026-11-02T00:15:00Z"), wh=999),
     (reading_key("M1", "2026-11-02T00:15:00Z"), "2026-11-02T00:15:00Z was edited: wh 999 (signed: 100)")),
    ("a reading record's seq edited", lambda s: _edit_in(s, reading_key("M1", "2026-11-03T00:00:00Z"), seq=1),
     (reading_key("M1", "2026-11-03T00:00:00Z"), "was edited: seq 1 (signed: 3)")),
    ("a reading record deleted", lambda s: s.pop(reading_key("M1", "2026-11-01T00:00:00Z")),
     (reading_key("M1", "2026-11-01T00:00:00Z"), "2026-11-01T00:00:00Z was deleted: batch 1 signed it")),
    ("a reading record added", lambda s: s.__setitem__(reading_key("M1", "2026-11-04T00:00:00Z"), canonical_json({**reading("2026-11-04T00:00:00Z"), "seq": 3})),
     (reading_key("M1", "2026-11-04T00:00:00Z"), "2026-11-04T00:00:00Z was added")),
    ("a month total lowered", lambda s: s.__setitem__(month_key("M1", "2026-11"), canonical_json(1)),
     (month_key("M1", "2026-11"), "the month total of 2026-11 is 1 Wh; the signed readings sum to 600 Wh")),
]


def _edit_in(state: dict[str, bytes], key: str, **change: Any) -> None:
    state[key] = canonical_json({**json.loads(state[key]), **change})


@pytest.mark.parametrize(("case", "tamper", "expected"), RECORD_TAMPERS, ids=[t[0] for t in RECORD_TAMPERS])
def test_chain_check_names_an_edited_deleted_or_added_reading_record(case: str, tamper: Any, expected: tuple[str, str]) -> None:
    """The copies bills and charts read (reading records, month totals) are checked against the
    signed batches: a direct edit of the state is named by its key, the batches still verify."""
    world = _chained_world()
    tamper(world.ledger.state)
    report = world.ok("Org1/collector", "verifyMeterChain", "M1")
    assert report["ok"] is False and report["batches"] == 3
    assert [p["key"] for p in report["problems"]] == [expected[0]], report["problems"]
    assert expected[1] in report["problems"][0]["problem"]


# --- regulators at three levels ------------------------------------------------------------

METERS = {  # meter id: (region, kV)
    "JS-NJ-LV": ("CN-32-01", "0.4"),
    "JS-NJ-MV": ("CN-32-01", "10"),
    "JS-NJ-HV": ("CN-32-01", "35"),
    "JS-SZ-LV": ("CN-32-05", "0.4"),
    "BJ-LV": ("CN-11-01", "0.4"),
}
READERS = [
    # (reader, meters it sees)
    ("national", {"JS-NJ-LV", "JS-NJ-MV", "JS-NJ-HV", "JS-SZ-LV", "BJ-LV"}),
    ("province CN-32", {"JS-NJ-LV", "JS-NJ-MV", "JS-NJ-HV", "JS-SZ-LV"}),
    ("city CN-32-01", {"JS-NJ-LV", "JS-NJ-MV"}),
    ("city CN-3", set()),  # a prefix of a code is not a region above it
    ("regulator without a level", set()),
    ("Org2 (another company)", set()),
    ("Org1 (the owner)", set(METERS)),
]


@pytest.fixture(scope="module")
def scoped_world() -> World:
    world = World()
    for meter_id, (region, kv) in METERS.items():
        meter = world.register(meter_id, region=region, voltage_kv=kv)
        world.submit(meter, [reading("2026-11-03T10:00:00Z", peak_w=99_000)])  # one alert each
    return world


def _reader(world: World, label: str) -> Any:
    if label.startswith(("national", "province", "city")):
        level, _, region = label.partition(" ")
        return world.regulator(level, region or None)
    return {"regulator without a level": world.regulator(None), "Org2 (another company)": world.ids["Org2/collector"], "Org1 (the owner)": world.ids["Org1/collector"]}[label]


@pytest.mark.parametrize(("label", "visible"), READERS, ids=[r[0] for r in READERS])
def test_regulator_levels_scope_every_read(scoped_world: World, label: str, visible: set[str]) -> None:
    world, reader = scoped_world, _reader(scoped_world, label)
    assert {m["meterId"] for m in world.ok(reader, "listMeters")} == visible
    assert {a["meterId"] for a in world.ok(reader, "listAlerts", "")} == visible
    for meter_id in METERS:
        expected_ok = meter_id in visible
        reads = [
            ("queryMeter", (meter_id,)),
            ("queryReadings", (meter_id, "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")),
            ("verifyMeterChain", (meter_id,)),
            ("listAlerts", (meter_id,)),
            ("listBills", (meter_id,)),
        ]
        for function, args in reads:
            success, result = world.call(reader, function, *args)
            assert success == expected_ok, (label, function, meter_id, result)
            if not success:
                assert result == "NOT_IN_SCOPE"
        success, result = world.call(reader, "queryBill", meter_id, "2026-11")
        assert result == ("UNKNOWN_BILL" if expected_ok else "NOT_IN_SCOPE")


def test_a_customer_reads_its_own_meters_only_and_writes_nothing(scoped_world: World) -> None:
    """A customer identity (role customer, attribute customerRef, issued by the meter's
    organization) reads exactly the meters registered with its customerRef."""
    from meterkit import customer_ref

    world = scoped_world
    own = world.cas["Org1"].issue("cust-nj", "customer", {"customerRef": customer_ref("JS-NJ-LV")}).identity
    elsewhere = world.cas["Org2"].issue("cust-nj", "customer", {"customerRef": customer_ref("JS-NJ-LV")}).identity
    assert [m["meterId"] for m in world.ok(own, "listMeters")] == ["JS-NJ-LV"]
    assert {a["meterId"] for a in world.ok(own, "listAlerts", "")} == {"JS-NJ-LV"}
    for meter_id in METERS:
        for function, args in (("queryMeter", ()), ("queryReadings", ("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")), ("listBills", ()), ("queryMonthlyWh", ()), ("verifyMeterChain", ())):
            success, result = world.call(own, function, meter_id, *args)
            assert success == (meter_id == "JS-NJ-LV") and (success or result == "NOT_IN_SCOPE"), (function, meter_id, result)
    assert world.ok(own, "queryMonthlyWh", "JS-NJ-LV") == {"2026-11": 100}
    assert world.ok(elsewhere, "listMeters") == [] and world.call(elsewhere, "queryMeter", "JS-NJ-LV") == (False, "NOT_IN_SCOPE")
    alert_id = world.ok(own, "listAlerts", "JS-NJ-LV")[0]["alertId"]
    meter = world.register("CUST-W", voltage_kv="0.4")
    for function, args in (("alertAck", (alert_id,)), ("settle", ("JS-NJ-LV", "2026-11")), ("meterRetire", ("JS-NJ-LV",)),
                           ("readingsSubmit", ("CUST-W", json.dumps(world.batch(meter, [reading("2026-11-05T00:00:00Z")]))))):
        assert world.call(own, function, *args) == (False, "NOT_AUTHORIZED"), function
