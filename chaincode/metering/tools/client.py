"""The metering chaincode from a client's side, over a network's gateways: register meters
(issuing their keys with the organization's CA), submit signed batches, settle a month.

A meter's key is kept in `orgs/<Org>/apps/metering/meters/<meterId>.json` (private, like a
device's secure element): collectors need it to sign the simulated meter's batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaincode.metering.batches import READING_FIELDS, batch_hash, sign_batch
from chaincode.metering.clock import is_aligned, iso, parse_iso_minutes
from chaincode.metering.errors import COLLECTOR, METER_ROLE, STAFF_ATTRIBUTE
from chaincode.metering.proofs import build_reading_proof
from chaincode.metering.tariffs import DEFAULT_TARIFF_ID
from ledger.core.encoding import decode
from ledger.core.errors import LedgerError
from ledger.core.identity import SigningIdentity
from ledger.core.messages import Block, compute_tx_id
from ledger.gateway import Gateway, PendingTransaction, creator_party, make_signoff

if TYPE_CHECKING:
    from ledger.node.network import Network

CHAINCODE = "metering"
COLLECTOR_NAME = "collector"  # the CLI user that submits an organization's batches (staff=collector)
SUBMIT_TIMEOUT_S = 60.0
SALT_BYTES = 32
_SALT_LOCK = threading.Lock()


@dataclass
class MeterHandle:
    """A meter the client can sign for, and where its chain stands."""

    meter_id: str
    org: str
    key: SigningIdentity
    seq: int = 0
    prev: str = ""
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """One transaction's end: its result JSON, or its refusal code and message."""

    ok: bool
    result: Any = None
    code: str = ""
    message: str = ""


def customer_ref(salt: str, customer: str) -> str:
    """The salted SHA-256 that stands for a customer on the ledger (the name stays off it)."""
    return hashlib.sha256(f"{salt}:{customer}".encode()).hexdigest()


def collector_identity(net: "Network", org: str) -> SigningIdentity:
    """The organization's collector: CLI user `collector` (`--as ORG/collector`), a client its
    CA issued with staff=collector, the only kind of client (with operators) the contract lets
    submit readings and read meter data. One made before that rule (a plain client) is
    re-issued with the attribute under the same name, so its identity id stays the same."""
    path = net.layout.user_file(org, COLLECTOR_NAME)
    if path.exists():
        found = SigningIdentity.load(path)
        if found.identity.attribute(STAFF_ATTRIBUTE) == COLLECTOR:
            return found
    identity = net.enroll(org, COLLECTOR_NAME, "client", {STAFF_ATTRIBUTE: COLLECTOR})
    identity.save(path)
    return identity


class MeteringClient:
    def __init__(self, net: "Network", org: str = "Org1") -> None:
        self.net = net
        self.org = org
        self.admin = net.gateway(net.service_identity(org))
        self.collector = net.gateway(collector_identity(net, org))

    # --- reads ------------------------------------------------------------------------------

    def query(self, function: str, *args: str, gateway: Gateway | None = None) -> Any:
        return (gateway or self.collector).evaluate_json(function, list(args), chaincode=CHAINCODE)

    def meter_or_none(self, meter_id: str) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = self.query("queryMeter", meter_id)
        except LedgerError as exc:
            if exc.code == "UNKNOWN_METER":
                return None
            raise
        return record

    # --- meters -----------------------------------------------------------------------------

    def customer_salt(self) -> str:
        """The organization's secret salt of customer references (made on first use, kept with
        its meter keys): without it, a customerRef cannot be tested against guessed customers."""
        path = self.net.layout.app_dir(self.org, CHAINCODE) / "customer-salt"
        with _SALT_LOCK:  # the bench registers meters from several threads
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(SALT_BYTES))
                try:
                    os.link(temporary, path)  # atomic, and never replaces a salt another process made
                except FileExistsError:
                    pass
                finally:
                    temporary.unlink()
            return path.read_text().strip()

    def key_file(self, meter_id: str) -> Path:
        return self.net.layout.app_dir(self.org, CHAINCODE) / "meters" / f"{meter_id}.json"

    def meter_key(self, meter_id: str, region: str) -> SigningIdentity:
        """The meter's key, issued by the organization's CA on first use (role meter)."""
        path = self.key_file(meter_id)
        if path.exists():
            return SigningIdentity.load(path)
        key = self.net.enroll(self.org, f"meter-{meter_id}", METER_ROLE, {"meterId": meter_id, "region": region})
        key.save(path)
        return key

    def ensure_meter(self, meter_id: str, *, customer: str, rated_kw: str, region: str, voltage_kv: str, tariff_id: str = DEFAULT_TARIFF_ID) -> MeterHandle:
        """The meter, registered by the organization's admin if it is not yet (idempotent)."""
        record = self.meter_or_none(meter_id)
        key = self.meter_key(meter_id, region if record is None else record["region"])
        if record is None:
            args = [meter_id, customer_ref(self.customer_salt(), customer), rated_kw, tariff_id, region, voltage_kv]
            invocation = self.admin.new_invocation("meterRegister", args, chaincode=CHAINCODE)
            signoffs = [creator_party(self.admin.identity), make_signoff("party", key, compute_tx_id(invocation))]
            record = self.admin.submit(invocation, signoffs, timeout_s=SUBMIT_TIMEOUT_S).json()
            record["head"] = {"seq": 0, "hash": ""}
        head = record["head"]
        return MeterHandle(meter_id, self.org, key, head["seq"], head["hash"], record)

    # --- batches ----------------------------------------------------------------------------

    def send_batch(self, meter: MeterHandle, readings: list[dict[str, Any]]) -> tuple[dict[str, Any], PendingTransaction | Outcome]:
        """Sign the next batch and order it; the pending commit, or the refusal at endorsement."""
        batch = sign_batch(meter.key.sign, meter.meter_id, meter.seq + 1, meter.prev, readings)
        invocation = self.collector.new_invocation("readingsSubmit", [meter.meter_id, json.dumps(batch)], chaincode=CHAINCODE)
        try:
            return batch, self.collector.submit_async(invocation, [creator_party(self.collector.identity)])
        except LedgerError as exc:
            return batch, Outcome(False, code=exc.code, message=exc.message)

    def submit_round(self, batches: Sequence[tuple[MeterHandle, list[dict[str, Any]]]], pace: Callable[[], None] | None = None) -> list[Outcome]:
        """One batch for each of several meters, ordered together, then awaited; heads advance on
        success. `pace` is called before each send (the bench's fixed send rate)."""
        sent = []
        for meter, readings in batches:
            if pace is not None:
                pace()
            sent.append((meter, *self.send_batch(meter, readings)))
        outcomes = []
        for meter, batch, pending in sent:
            outcome = pending if isinstance(pending, Outcome) else _await(pending)
            if outcome.ok:
                meter.seq, meter.prev = batch["seq"], batch_hash(batch)
            outcomes.append(outcome)
        return outcomes

    # --- proofs -----------------------------------------------------------------------------

    def reading_proof(self, meter_id: str, start_iso: str, *, gateway: Gateway | None = None) -> dict[str, Any]:
        """An offline-checkable proof (see `proofs`) that the reading at `start_iso` is on the ledger."""
        minutes = parse_iso_minutes(start_iso, "start")
        if not is_aligned(minutes):  # else the 15 minutes from it would hold the next reading, proven instead
            raise LedgerError("MISALIGNED_INTERVAL", f"start {start_iso} is not on the quarter hour: a reading starts at :00, :15, :30 or :45")
        rows = self.query("queryReadings", meter_id, iso(minutes), iso(minutes + 15), gateway=gateway)
        if not rows:
            raise self._record_problem(meter_id, iso(minutes), gateway) or LedgerError("UNKNOWN_READING", f"meter {meter_id} has no reading starting at {start_iso}")
        stored = self.query("queryBatch", meter_id, str(rows[0]["seq"]), gateway=gateway)
        signed = next((r for r in stored["batch"]["readings"] if r["start"] == rows[0]["start"]), None)
        if signed != {k: rows[0][k] for k in READING_FIELDS}:
            raise self._record_problem(meter_id, rows[0]["start"], gateway) or LedgerError(
                "READING_RECORD_EDITED", f"the stored reading of {rows[0]['start']} is not the one meter {meter_id}'s batch {rows[0]['seq']} signed")
        meter = self.query("queryMeter", meter_id, gateway=gateway)
        located = (gateway or self.collector).commit_status(stored["txId"])
        if located is None:
            raise LedgerError("UNKNOWN_TRANSACTION", f"no live peer has transaction {stored['txId']}")
        number, code = located
        peer = next(p for p in self.net.peers if p.alive and p.height > number)
        block = decode(peer.block(number), Block)
        return build_reading_proof(meter, rows[0], stored["batch"], bytes.fromhex(meter["certificate"]), block, stored["txId"], code.name)

    def _record_problem(self, meter_id: str, start: str, gateway: Gateway | None) -> LedgerError | None:
        """The chain check's finding about the reading record of `start` (edited or deleted in
        the state behind the contract's back), as an error naming the record."""
        for problem in self.query("verifyMeterChain", meter_id, gateway=gateway)["problems"]:
            if problem.get("start") == start:
                code = "READING_RECORD_DELETED" if "was deleted" in problem["problem"] else "READING_RECORD_EDITED"
                return LedgerError(code, f"{problem['key']}: {problem['problem']}")
        return None

    # --- settlement -------------------------------------------------------------------------

    def settle_all(self, period: str, on_done: Callable[[], None] | None = None) -> list[tuple[str, Outcome]]:
        """Settle every meter of this organization for `period` (independent bills, ordered together)."""
        meters = [m["meterId"] for m in self.query("listMeters", gateway=self.admin) if m["org"] == self.org]
        return self.settle_meters(meters, period, on_done)

    def settle_meters(self, meters: Sequence[str], period: str, on_done: Callable[[], None] | None = None, pace: Callable[[], None] | None = None) -> list[tuple[str, Outcome]]:
        """Settle the given meters of this organization for `period`, ordered together."""
        pending: list[tuple[str, PendingTransaction | Outcome]] = []
        for meter_id in meters:
            if pace is not None:
                pace()
            invocation = self.admin.new_invocation("settle", [meter_id, period], chaincode=CHAINCODE)
            try:
                pending.append((meter_id, self.admin.submit_async(invocation, [creator_party(self.admin.identity)])))
            except LedgerError as exc:
                pending.append((meter_id, Outcome(False, code=exc.code, message=exc.message)))
        results = []
        for meter_id, handle in pending:
            results.append((meter_id, handle if isinstance(handle, Outcome) else _await(handle)))
            if on_done is not None:
                on_done()
        return results


def _await(pending: PendingTransaction) -> Outcome:
    try:
        return Outcome(True, pending.result(SUBMIT_TIMEOUT_S).json())
    except LedgerError as exc:
        return Outcome(False, code=exc.code, message=exc.message)
