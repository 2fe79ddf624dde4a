"""A metering world on the in-memory ledger: organizations, meters with real keys, signed batches.

`World.submit(meter, readings)` signs a batch with the meter's key, links it to the meter's
previous batch and submits it as the meter's organization's collector (a client with attribute staff=collector),
like a real collector. Each organization also has an operator (staff=operator) and a
researcher (a plain client, as every console sign-up is): a member that is not staff.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fake_context import FakeLedger

from chaincode.metering.batches import batch_hash, sign_batch
from chaincode.metering.contract import MeteringContract
from ledger.core.identity import CertificateAuthority, Identity, SigningIdentity
from ledger.execute.chaincode_api import VerifiedSignoff

CLOCK_2027_MS = calendar.timegm((2027, 1, 1, 0, 0, 0)) * 1000  # every 2026 interval has ended


def utc_minutes(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) // 60


def iso(minutes: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minutes * 60))


def reading(start: str | int, wh: int = 100, varh: int = 10, peak_w: int = 500) -> dict[str, Any]:
    return {"start": start if isinstance(start, str) else iso(start), "wh": wh, "varh": varh, "peak_w": peak_w}


def customer_ref(name: str) -> str:
    return hashlib.sha256(b"salt:" + name.encode()).hexdigest()


@dataclass
class Meter:
    meter_id: str
    key: SigningIdentity
    org: str
    seq: int = 0
    prev: str = ""


@dataclass
class World:
    ledger: FakeLedger = field(default_factory=lambda: FakeLedger(MeteringContract(regulator_org="Regulator")))
    cas: dict[str, CertificateAuthority] = field(default_factory=dict)
    ids: dict[str, Identity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ledger.clock_ms = CLOCK_2027_MS
        for org in ("Org1", "Org2", "Regulator"):
            self.cas[org] = CertificateAuthority.generate(org)
            self.ids[f"{org}/admin"] = self.cas[org].issue("admin", "admin").identity
            self.ids[f"{org}/collector"] = self.cas[org].issue("collector", "client", {"staff": "collector"}).identity
            self.ids[f"{org}/operator"] = self.cas[org].issue("operator", "client", {"staff": "operator"}).identity
            self.ids[f"{org}/researcher"] = self.cas[org].issue("researcher", "client").identity  # a console sign-up: a member, not staff

    def regulator(self, level: str | None, region: str | None = None) -> Identity:
        attributes = {k: v for k, v in (("level", level), ("region", region)) if v is not None}
        return self.cas["Regulator"].issue(f"reg-{level}-{region}", "admin" if level is None else "client", attributes).identity

    def call(self, who: str | Identity, function: str, *args: str, signoffs: tuple[VerifiedSignoff, ...] = ()) -> tuple[bool, Any]:
        creator = self.ids[who] if isinstance(who, str) else who
        return self.ledger.call(function, tuple(args), creator, signoffs)

    def ok(self, who: str | Identity, function: str, *args: str, signoffs: tuple[VerifiedSignoff, ...] = ()) -> Any:
        success, result = self.call(who, function, *args, signoffs=signoffs)
        assert success, f"{function}{args} refused: {result}"
        return result

    def meter_identity(self, org: str, meter_id: str, region: str) -> SigningIdentity:
        return self.cas[org].issue(f"meter-{meter_id}", "meter", {"meterId": meter_id, "region": region})

    def register(self, meter_id: str, *, org: str = "Org1", rated_kw: str = "10", region: str = "CN-32-01", voltage_kv: str = "0.4", tariff: str = "CN-RES-TOU") -> Meter:
        key = self.meter_identity(org, meter_id, region)
        self.ok(f"{org}/admin", "meterRegister", meter_id, customer_ref(meter_id), rated_kw, tariff, region, voltage_kv, signoffs=(VerifiedSignoff("party", key.identity),))
        return Meter(meter_id, key, org)

    def batch(self, meter: Meter, readings: list[dict[str, Any]], *, seq: int | None = None, prev: str | None = None) -> dict[str, Any]:
        return sign_batch(meter.key.sign, meter.meter_id, meter.seq + 1 if seq is None else seq, meter.prev if prev is None else prev, readings)

    def submit_batch(self, meter: Meter, batch: dict[str, Any], who: str | None = None) -> tuple[bool, Any]:
        outcome = self.call(who or f"{meter.org}/collector", "readingsSubmit", meter.meter_id, json.dumps(batch))
        if outcome[0]:
            meter.seq, meter.prev = batch["seq"], batch_hash(batch)
        return outcome

    def submit(self, meter: Meter, readings: list[dict[str, Any]]) -> Any:
        success, result = self.submit_batch(meter, self.batch(meter, readings))
        assert success, f"batch refused: {result}"
        return result

    def submit_days(self, meter: Meter, first: str, days: int, values: Any) -> None:
        """One batch per UTC day from `first` (00:00Z); values(minutes) -> (wh, varh, peak_w)."""
        start = utc_minutes(first)
        for day in range(days):
            day_start = start + day * 1440
            self.submit(meter, [reading(m, *values(m)) for m in range(day_start, day_start + 1440, 15)])
