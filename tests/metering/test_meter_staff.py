"""Meter data privacy inside a grid organization: only its staff (admins, collectors and
operators) reads and writes its meters' data; a plain member (a researcher or customer who
signed up on the console, enrolled as a client of the organization) is refused
NOT_METER_STAFF; another company's staff NOT_IN_SCOPE; a customer reads its own meter only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from meterkit import World, customer_ref, reading, utc_minutes

from chaincode.metering.access import scope_refusal
from ledger.core.identity import Identity

FEB_START = utc_minutes("2026-01-31T16:00:00Z")  # 1 February 2026, 00:00 at UTC+8 (the shipped tariff)
FEB_DAYS = 28
ALERT_AT = "2026-02-10T02:00:00Z"


def _identity(world: World, who: str) -> Identity:
    """The table's readers and writers: world ids, or one made here by its org's CA."""
    made = {
        "Org1 client staff=intern": lambda: world.cas["Org1"].issue("intern", "client", {"staff": "intern"}).identity,
        "Org1 meter identity": lambda: world.meter_identity("Org1", "M1", "CN-32-01").identity,
        "customer of M1": lambda: world.cas["Org1"].issue("cust-m1", "customer", {"customerRef": customer_ref("M1")}).identity,
        "customer of another meter": lambda: world.cas["Org1"].issue("cust-x", "customer", {"customerRef": customer_ref("X")}).identity,
    }
    return made[who]() if who in made else world.ids[who]


@pytest.fixture(scope="module")
def billed() -> World:
    """Org1's M1 with all of February 2026 (one alert) and its bill; Org2's N1 with a day."""
    world = World()
    m1, n1 = world.register("M1"), world.register("N1", org="Org2")
    for day in range(FEB_DAYS):
        rows = [reading(FEB_START + day * 1440 + 15 * q) for q in range(96)]
        if day == 9:
            rows[40] = reading(ALERT_AT, peak_w=99_000)
        world.submit(m1, rows)
    world.submit(n1, [reading("2026-02-10T00:00:00Z")])
    world.ok("Org1/admin", "settle", "M1", "2026-02")
    return world


READS = [  # (function, args) on Org1's meter M1
    ("queryMeter", ("M1",)),
    ("queryReadings", ("M1", "2026-02-10T00:00:00Z", "2026-02-11T00:00:00Z")),
    ("queryMonthlyWh", ("M1",)),
    ("queryBatch", ("M1", "1")),
    ("verifyMeterChain", ("M1",)),
    ("listAlerts", ("M1",)),
    ("listBills", ("M1",)),
    ("queryBill", ("M1", "2026-02")),
]
READERS = [
    # (reader, what each read of M1 answers: "ok" or the refusal code, what the lists show: meter ids or a code)
    ("Org1/admin", "ok", {"M1"}),
    ("Org1/collector", "ok", {"M1"}),
    ("Org1/operator", "ok", {"M1"}),
    ("Org1/researcher", "NOT_METER_STAFF", "NOT_METER_STAFF"),  # a console sign-up of Org1
    ("Org1 client staff=intern", "NOT_METER_STAFF", "NOT_METER_STAFF"),  # only collector and operator are staff kinds
    ("Org1 meter identity", "NOT_METER_STAFF", "NOT_METER_STAFF"),  # a meter signs its batches; it reads nothing
    ("Org2/admin", "NOT_IN_SCOPE", {"N1"}),  # another company's staff
    ("Org2/collector", "NOT_IN_SCOPE", {"N1"}),
    ("Org2/researcher", "NOT_IN_SCOPE", "NOT_METER_STAFF"),
    ("customer of M1", "ok", {"M1"}),
    ("customer of another meter", "NOT_IN_SCOPE", set()),
]


@pytest.mark.parametrize(("who", "reads", "lists"), READERS, ids=[r[0] for r in READERS])
def test_who_reads_a_meters_data(billed: World, who: str, reads: str, lists: Any) -> None:
    reader = _identity(billed, who)
    for function, args in READS:
        success, result = billed.call(reader, function, *args)
        assert (success, "ok" if success else result) == (reads == "ok", reads), (who, function, result)
    for function, args in (("listMeters", ()), ("listAlerts", ("",)), ("listBills", ("",))):
        success, result = billed.call(reader, function, *args)
        if isinstance(lists, str):
            assert (success, result) == (False, lists), (who, function)
        else:  # only M1 has an alert and a bill
            expected = lists if function == "listMeters" else lists & {"M1"}
            assert success and {row["meterId"] for row in result} == expected, (who, function, result)


def test_a_staff_read_sees_the_data_a_refusal_hides(billed: World) -> None:
    """What the refusal protects: the collector reads the readings, the alert and the bill."""
    rows = billed.ok("Org1/collector", "queryReadings", "M1", "2026-02-10T00:00:00Z", "2026-02-11T00:00:00Z")
    assert len(rows) == 96 and [a["start"] for a in billed.ok("Org1/operator", "listAlerts", "M1")] == [ALERT_AT]
    assert billed.ok("Org1/admin", "queryBill", "M1", "2026-02")["total_fen"] > 0
    refusal = scope_refusal(billed.ids["Org1/researcher"], billed.ok("Org1/admin", "queryMeter", "M1"), "Regulator")
    assert refusal is not None and refusal[0] == "NOT_METER_STAFF" and "Org1/researcher (client) is a member of Org1 but not its meter staff" in refusal[1]


WRITERS = [
    # (writer, readingsSubmit, alertAck, alertResolve, settle) — settle of an incomplete month:
    # READINGS_INCOMPLETE means the caller passed the check of who asks
    ("Org1/admin", "ok", "ok", "ok", "READINGS_INCOMPLETE"),
    ("Org1/collector", "ok", "ok", "ok", "READINGS_INCOMPLETE"),
    ("Org1/operator", "ok", "ok", "ok", "READINGS_INCOMPLETE"),
    ("Org1/researcher", "NOT_METER_STAFF", "NOT_METER_STAFF", "NOT_METER_STAFF", "NOT_METER_STAFF"),
    ("Org1 client staff=intern", "NOT_METER_STAFF", "NOT_METER_STAFF", "NOT_METER_STAFF", "NOT_METER_STAFF"),
    ("Org2/admin", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED"),
    ("Org2/collector", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED"),
    ("customer of M1", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED"),
    ("Regulator/admin", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "NOT_AUTHORIZED", "READINGS_INCOMPLETE"),
]


@pytest.mark.parametrize(("who", "submit", "ack", "resolve", "settle"), WRITERS, ids=[w[0] for w in WRITERS])
def test_who_writes_for_a_meter(who: str, submit: str, ack: str, resolve: str, settle: str) -> None:
    world = World()
    meter = world.register("M1")
    alert_id = world.submit(meter, [reading("2026-11-03T10:00:00Z", peak_w=99_000)])["alerts"][0]["alertId"]
    writer = _identity(world, who)
    batch = world.batch(meter, [reading("2026-11-03T10:15:00Z")])
    calls = [
        ("readingsSubmit", ("M1", json.dumps(batch)), submit),
        ("alertAck", (alert_id,), ack),
        ("alertResolve", (alert_id, "ab" * 32), resolve),
        ("settle", ("M1", "2026-11"), settle),
    ]
    for function, args, expected in calls:
        success, result = world.call(writer, function, *args)
        assert (success, "ok" if success else result) == (expected == "ok", expected), (who, function, result)
    if submit == "ok":
        assert world.ok("Org1/collector", "queryMeter", "M1")["head"]["seq"] == 2


def test_the_cli_collector_is_staff_and_an_older_plain_one_is_reissued(tmp_path: Any) -> None:
    """`meters simulate`, `settle` and the bench submit as ORG/collector: it carries
    staff=collector; a collector.json made before the staff rule (a plain client) is re-issued
    under the same name, so its identity id (what batches record as submittedBy) stays."""
    from chaincode.metering.tools.client import collector_identity
    from ledger.core.identity import CertificateAuthority
    from ledger.node.layout import NetworkLayout

    class Net:  # what collector_identity uses of a Network
        layout = NetworkLayout(tmp_path)
        ca = CertificateAuthority.generate("Org1")

        def enroll(self, org: str, name: str, role: str, attributes: dict[str, str]) -> Any:
            return self.ca.issue(name, role, attributes)

    net: Any = Net()
    path = net.layout.user_file("Org1", "collector")
    path.parent.mkdir(parents=True)
    Net.ca.issue("collector", "client").save(path)  # an older data directory's plain collector
    reissued = collector_identity(net, "Org1")
    assert (reissued.id, reissued.identity.role, reissued.identity.attribute("staff")) == ("Org1/collector", "client", "collector")
    assert collector_identity(net, "Org1").cert_bytes == reissued.cert_bytes  # kept, not issued again
