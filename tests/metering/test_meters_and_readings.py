"""Meters and signed reading batches on the in-memory ledger: the happy path and every refusal."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from meterkit import Meter, World, customer_ref, reading

from ledger.execute.chaincode_api import VerifiedSignoff

T0 = "2026-11-03T10:15:00Z"


@pytest.fixture
def world() -> World:
    return World()


def test_register_submit_and_read_back(world: World) -> None:
    meter = world.register("M1")
    record = world.ok("Org1/collector", "queryMeter", "M1")
    assert record["org"] == "Org1" and record["status"] == "active" and record["rated_w"] == 10_000
    assert record["publicKey"] == meter.key.identity.body.public_key.hex() and record["identity"] == "Org1/meter-M1"
    first = world.submit(meter, [reading("2026-11-03T10:15:00Z"), reading("2026-11-03T10:30:00Z", wh=120)])
    second = world.submit(meter, [reading("2026-11-03T10:45:00Z", wh=90)])
    assert (first["seq"], second["seq"]) == (1, 2)
    rows = world.ok("Org1/collector", "queryReadings", "M1", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")
    assert [(r["start"], r["wh"], r["seq"]) for r in rows] == [("2026-11-03T10:15:00Z", 100, 1), ("2026-11-03T10:30:00Z", 120, 1), ("2026-11-03T10:45:00Z", 90, 2)]
    head = world.ok("Org1/collector", "queryMeter", "M1")["head"]
    assert head == {"seq": 2, "hash": meter.prev, "readings": 3}
    # the list carries each meter's head too: the console's Meters page shows its batches from it
    assert [m["head"] for m in world.ok("Org1/collector", "listMeters")] == [head]
    assert world.ok("Org1/collector", "verifyMeterChain", "M1") == {"ok": True, "meterId": "M1", "batches": 2, "problems": []}
    assert [name for name, _ in world.ledger.events] == ["meterRegister", "readingsSubmit", "readingsSubmit"]


def _register_args(world: World, **change: str) -> tuple[str, ...]:
    args = {"meterId": "M9", "customerRef": customer_ref("x"), "ratedKw": "7.5", "tariffId": "CN-RES-TOU", "region": "CN-32-01", "voltageKv": "0.4"}
    args.update(change)
    return tuple(args.values())


REGISTER_REFUSALS: list[tuple[str, dict[str, str], str, str, str]] = [
    # (case, argument changes, creator, meter certificate (org:meterId:region | none | client), code)
    ("bad meter id", {"meterId": "M 9"}, "Org1/admin", "Org1:M9:CN-32-01", "BAD_ID"),
    ("customer ref not a hash", {"customerRef": "Zhang San"}, "Org1/admin", "Org1:M9:CN-32-01", "BAD_HASH"),
    ("rated power zero", {"ratedKw": "0"}, "Org1/admin", "Org1:M9:CN-32-01", "BAD_NUMBER"),
    ("rated power four decimals", {"ratedKw": "1.0001"}, "Org1/admin", "Org1:M9:CN-32-01", "BAD_NUMBER"),
    ("region lower case", {"region": "cn-32"}, "Org1/admin", "Org1:M9:cn-32", "BAD_REGION"),
    ("voltage negative", {"voltageKv": "-1"}, "Org1/admin", "Org1:M9:CN-32-01", "BAD_NUMBER"),
    ("unknown tariff", {"tariffId": "NOPE"}, "Org1/admin", "Org1:M9:CN-32-01", "UNKNOWN_TARIFF"),
    ("a client, not the admin", {}, "Org1/collector", "Org1:M9:CN-32-01", "NOT_AUTHORIZED"),
    ("no meter signs", {}, "Org1/admin", "none", "BAD_METER_CERTIFICATE"),
    ("a client certificate, not a meter", {}, "Org1/admin", "client", "BAD_METER_CERTIFICATE"),
    ("certificate of another meter id", {}, "Org1/admin", "Org1:M8:CN-32-01", "BAD_METER_CERTIFICATE"),
    ("certificate of another region", {}, "Org1/admin", "Org1:M9:CN-11", "BAD_METER_CERTIFICATE"),
    ("certificate of another organization", {}, "Org1/admin", "Org2:M9:CN-32-01", "BAD_METER_CERTIFICATE"),
    ("meter id taken", {"meterId": "M1"}, "Org1/admin", "Org1:M1:CN-32-01", "METER_EXISTS"),
]


@pytest.mark.parametrize(("case", "change", "creator", "cert", "code"), REGISTER_REFUSALS, ids=[r[0] for r in REGISTER_REFUSALS])
def test_register_refusals(world: World, case: str, change: dict[str, str], creator: str, cert: str, code: str) -> None:
    world.register("M1")
    if cert == "none":
        signoffs: tuple[VerifiedSignoff, ...] = ()
    elif cert == "client":
        signoffs = (VerifiedSignoff("party", world.ids["Org1/collector"]),)
    else:
        org, meter_id, region = cert.split(":")
        signoffs = (VerifiedSignoff("party", world.meter_identity(org, meter_id, region).identity),)
    before = dict(world.ledger.state)
    assert world.call(creator, "meterRegister", *_register_args(world, **change), signoffs=signoffs) == (False, code)
    assert world.ledger.state == before, f"{case}: a refusal wrote state"


def _tampered(world: World, meter: Meter) -> dict[str, Any]:
    batch = world.batch(meter, [reading(T0)])
    batch["readings"][0]["wh"] += 1  # changed after the meter signed
    return batch


def _other_key(world: World, meter: Meter) -> dict[str, Any]:
    impostor = Meter(meter.meter_id, world.meter_identity("Org1", meter.meter_id, "CN-32-01"), "Org1", meter.seq, meter.prev)
    return world.batch(impostor, [reading(T0)])


SUBMIT_REFUSALS: list[tuple[str, Any, str]] = [
    # (case, batch maker (world, meter) -> batch or raw JSON text, code)
    ("not JSON", lambda w, m: "{", "BAD_BATCH"),
    ("missing sig field", lambda w, m: {k: v for k, v in w.batch(m, [reading(T0)]).items() if k != "sig"}, "BAD_BATCH"),
    ("names another meter", lambda w, m: w.batch(Meter("M2", m.key, "Org1"), [reading(T0)]), "BAD_BATCH"),
    ("empty readings", lambda w, m: w.batch(m, []), "BAD_BATCH"),
    ("more than a day", lambda w, m: w.batch(m, [reading("2026-11-03T00:00:00Z"), reading("2026-11-04T00:00:00Z")]), "BAD_BATCH"),
    ("changed after signing", _tampered, "BAD_METER_SIGNATURE"),
    ("signed by another key", _other_key, "BAD_METER_SIGNATURE"),
    ("skips a sequence number", lambda w, m: w.batch(m, [reading(T0)], seq=m.seq + 2), "BAD_BATCH_LINK"),
    ("repeats a sequence number", lambda w, m: w.batch(m, [reading(T0)], seq=m.seq), "BAD_BATCH_LINK"),
    ("prev not the last batch", lambda w, m: w.batch(m, [reading(T0)], prev="0" * 64), "BAD_BATCH_LINK"),
    ("interval already recorded", lambda w, m: w.batch(m, [reading("2026-11-02T00:00:00Z")]), "DUPLICATE_READING"),
    ("interval twice in the batch", lambda w, m: w.batch(m, [reading(T0), reading(T0)]), "DUPLICATE_READING"),
    ("misaligned start", lambda w, m: w.batch(m, [reading("2026-11-03T10:20:00Z")]), "MISALIGNED_INTERVAL"),
    ("seconds in start", lambda w, m: w.batch(m, [reading("2026-11-03T10:15:30Z")]), "BAD_TIME"),
    ("local time, not UTC", lambda w, m: w.batch(m, [reading("2026-11-03T10:15:00+08:00")]), "BAD_TIME"),
    ("interval not ended", lambda w, m: w.batch(m, [reading("2027-01-01T00:00:00Z")]), "FUTURE_INTERVAL"),
    ("negative energy", lambda w, m: w.batch(m, [reading(T0, wh=-1)]), "NEGATIVE_VALUE"),
    ("negative reactive energy", lambda w, m: w.batch(m, [reading(T0, varh=-5)]), "NEGATIVE_VALUE"),
    ("fractional energy", lambda w, m: w.batch(m, [{**reading(T0), "wh": 1.5}]), "BAD_READING"),
    ("boolean energy", lambda w, m: w.batch(m, [{**reading(T0), "wh": True}]), "BAD_READING"),
    ("extra reading field", lambda w, m: w.batch(m, [{**reading(T0), "kwh": 1}]), "BAD_READING"),
    ("out of time order", lambda w, m: w.batch(m, [reading("2026-11-03T10:30:00Z"), reading(T0)]), "BAD_READING"),
]


@pytest.mark.parametrize(("case", "make", "code"), SUBMIT_REFUSALS, ids=[r[0] for r in SUBMIT_REFUSALS])
def test_submit_refusals(world: World, case: str, make: Any, code: str) -> None:
    meter = world.register("M1")
    world.submit(meter, [reading("2026-11-02T00:00:00Z")])
    made = make(world, meter)
    text = made if isinstance(made, str) else json.dumps(made)
    before = dict(world.ledger.state)
    assert world.call("Org1/collector", "readingsSubmit", "M1", text) == (False, code), case
    assert world.ledger.state == before, f"{case}: a refusal wrote state"


def test_who_may_submit_and_retired_meters(world: World) -> None:
    meter = world.register("M1")
    batch = world.batch(meter, [reading(T0)])
    assert world.submit_batch(meter, batch, who="Org2/collector") == (False, "NOT_AUTHORIZED")
    assert world.call("Org1/collector", "readingsSubmit", "M404", json.dumps({**batch, "meterId": "M404"})) == (False, "UNKNOWN_METER")
    assert world.call("Org1/collector", "meterRetire", "M1") == (False, "NOT_AUTHORIZED")
    assert world.ok("Org1/admin", "meterRetire", "M1")["status"] == "retired"
    assert world.submit_batch(meter, batch) == (False, "METER_RETIRED")
    assert world.call("Org1/admin", "meterRetire", "M1") == (False, "METER_RETIRED")
    assert world.ok("Org1/collector", "queryMeter", "M1")["status"] == "retired"


def test_batches_that_fill_a_gap_keep_the_chain(world: World) -> None:
    """A late batch may hold earlier intervals than the one before; the chain is by seq, not by time."""
    meter = world.register("M1")
    world.submit(meter, [reading("2026-11-03T12:00:00Z")])
    world.submit(meter, [reading("2026-11-03T11:45:00Z")])
    rows = world.ok("Org1/collector", "queryReadings", "M1", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")
    assert [r["start"] for r in rows] == ["2026-11-03T11:45:00Z", "2026-11-03T12:00:00Z"]
    assert world.call("Org1/collector", "queryReadings", "M1", "2026-11-04T00:00:00Z", "2026-11-03T00:00:00Z") == (False, "BAD_RANGE")
    assert world.call("Org1/collector", "queryReadings", "M1", "2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z") == (False, "BAD_RANGE")


def test_bench_pacer_holds_the_send_rate() -> None:
    """`bench --workload metering --rates R`: the n-th send waits until n / R s after the first."""
    from chaincode.metering.tools.bench import Pacer

    pace, rate = Pacer(50.0), 50.0
    first = None
    for _ in range(11):
        pace()
        first = first if first is not None else time.perf_counter()
    assert time.perf_counter() - first >= 10 / rate * 0.99
    unpaced = Pacer(0.0)
    started = time.perf_counter()
    for _ in range(1000):
        unpaced()
    assert time.perf_counter() - started < 10 / rate  # rate 0: as fast as possible
