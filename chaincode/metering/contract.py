"""The metering contract: meters, signed reading batches, alerts, tariffs and monthly bills.

No function needs the regulator's per-transaction approval (readings arrive every day from
collectors); each checks who asks instead: a meter's organization's staff (`access.is_staff`:
its admins, collectors and operators — not every client it enrolled) writes for its meters,
the regulator organization's administrators set tariffs, and reads are scoped (`access`).
All checks run before the first write, and no key is read after it is written.
"""

from __future__ import annotations

from typing import Any

from chaincode.metering import access, chain_check, checks
from chaincode.metering.batches import SEQ_MAX, Reading, batch_hash, check_readings, parse_batch, signature_ok
from chaincode.metering.billing import Interval, bill_lines
from chaincode.metering.clock import compact, iso, local_month, local_month_bounds, parse_iso_minutes, parse_period
from chaincode.metering.errors import (
    ALERT_ACK_HOURS,
    ALERT_ESCALATE_HOURS,
    BATCHES_MAX,
    INTERVAL_MIN,
    LIST_MAX,
    METER_ROLE,
    PERIOD_READINGS_MAX,
    RATED_KW_MAX,
    READINGS_SPAN_DAYS_MAX,
    VOLTAGE_KV_MAX,
    Code,
)
from chaincode.metering.keys import (
    ALERT_PREFIX,
    METER_PREFIX,
    alert_id,
    alert_key,
    alert_key_of_id,
    alert_prefix,
    batch_key,
    bill_key,
    head_key,
    meter_key,
    month_key,
    reading_key,
)
from chaincode.metering.rules import RuleSet, check_interval
from chaincode.metering.tariff_store import effective_tariff, latest_tariff, set_tariff, tariff_versions
from chaincode.shim import Contract, Stub, canonical_json, query, refuse, transaction
from ledger.core.encoding import merkle_root

HOUR_MS = 3_600_000
DAY_MIN = 24 * 60


class MeteringContract(Contract):
    """Smart-meter readings, anomaly alerts and settlement (issue 10)."""

    def __init__(self, regulator_org: str = "Regulator", overload_ratio: str = "1.5", pf_alert: str = "0.85", spike_ratio: str = "4") -> None:
        self.regulator_org = regulator_org
        self.rules = RuleSet.from_params(overload_ratio, pf_alert, spike_ratio)

    # --- meters ---------------------------------------------------------------------------

    @transaction("meterRegister", "meterId", "customerRef", "ratedKw", "tariffId", "region", "voltageKv")
    def meter_register(self, stub: Stub, meter_id: str, customer_ref: str, rated_kw: str, tariff_id: str, region: str, voltage_kv: str) -> dict[str, Any]:
        """Register a meter of the admin's organization; the meter's own certificate signs as a party.

        The admin's client issues the meter's key and certificate (role `meter`, attributes
        meterId and region) with the organization's CA; the endorser has checked that
        certificate against the channel's CA roots and its signoff signature, so the key
        recorded here is one the organization vouches for and the meter holds.
        """
        checks.check_id(meter_id, "meterId")
        checks.check_sha256(customer_ref, "customerRef (salted SHA-256 of the customer)")
        rated_w = checks.check_milli(rated_kw, "ratedKw", RATED_KW_MAX)
        checks.check_id(tariff_id, "tariffId")
        checks.check_region(region)
        voltage_v = checks.check_milli(voltage_kv, "voltageKv", VOLTAGE_KV_MAX)
        if stub.get_json(meter_key(meter_id)) is not None:
            raise refuse(Code.METER_EXISTS, f"meter {meter_id!r} is already registered")
        tariff = latest_tariff(stub, tariff_id)
        creator = stub.creator
        if creator.role != "admin":
            raise refuse(Code.NOT_AUTHORIZED, f"meters are registered by an organization's administrator, not {creator.id} ({creator.role})")
        meters = [s.identity for s in stub.ctx.signoffs if s.kind == "party" and s.identity.role == METER_ROLE]
        if len(meters) != 1:
            raise refuse(Code.BAD_METER_CERTIFICATE, f"the registration must be signed by exactly one meter identity (role {METER_ROLE}); it has {len(meters)}")
        cert = meters[0]
        if cert.org != creator.org or cert.attribute("meterId") != meter_id or cert.attribute("region") != region:
            raise refuse(Code.BAD_METER_CERTIFICATE, f"the meter certificate must be of {creator.org} with meterId {meter_id} and region {region}")
        meter = {
            "meterId": meter_id, "org": creator.org, "customerRef": customer_ref, "ratedKw": rated_kw, "rated_w": rated_w,
            "tariffId": tariff_id, "utc_offset_minutes": tariff["tariff"]["utc_offset_minutes"], "region": region,
            "voltageKv": voltage_kv, "voltage_v": voltage_v, "publicKey": cert.body.public_key.hex(), "certSerial": cert.body.serial, "certificate": cert.cert_bytes.hex(),
            "identity": cert.id, "status": "active", "registeredBy": creator.id, "registeredAt": stub.timestamp_ms, "txId": stub.tx_id,
        }
        stub.put_json(meter_key(meter_id), meter)
        stub.set_event("meterRegister", {"meterId": meter_id, "org": creator.org, "region": region})
        return meter

    @transaction("meterRetire", "meterId")
    def meter_retire(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """Retire a meter: it takes no more readings; its history and bills stay readable."""
        checks.check_id(meter_id, "meterId")
        meter = checks.existing_meter(stub, meter_id, active=True)
        access.require_org(stub.creator, meter, admin=True)
        meter["status"] = "retired"
        meter["retiredAt"] = stub.timestamp_ms
        stub.put_json(meter_key(meter_id), meter)
        stub.set_event("meterRetire", {"meterId": meter_id})
        return meter

    @query("queryMeter", "meterId")
    def query_meter(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """The meter record and its chain head (last seq and hash)."""
        checks.check_id(meter_id, "meterId")
        meter = checks.existing_meter(stub, meter_id)
        access.require_scope(stub.creator, meter, self.regulator_org)
        meter["head"] = stub.get_json(head_key(meter_id)) or {"seq": 0, "hash": "", "readings": 0}
        return meter

    @query("listMeters")
    def list_meters(self, stub: Stub) -> list[dict[str, Any]]:
        """The meters the caller may read (at most LIST_MAX), in id order, each with its chain
        head as `queryMeter` gives it (the console's list shows the batches from it)."""
        access.require_lister(stub.creator, self.regulator_org)
        visible = [m for _, m in stub.prefix_json(METER_PREFIX, BATCHES_MAX) if not access.scope_problem(stub.creator, m, self.regulator_org)]
        for meter in visible[:LIST_MAX]:
            meter["head"] = stub.get_json(head_key(meter["meterId"])) or {"seq": 0, "hash": "", "readings": 0}
        return visible[:LIST_MAX]

    # --- readings -------------------------------------------------------------------------

    @transaction("readingsSubmit", "meterId", "batchJson")
    def readings_submit(self, stub: Stub, meter_id: str, batch_json: str) -> dict[str, Any]:
        """Record a meter-signed batch that extends its chain, raising an alert per broken rule."""
        checks.check_id(meter_id, "meterId")
        batch = parse_batch(batch_json, meter_id)
        meter = checks.existing_meter(stub, meter_id, active=True)
        access.require_org(stub.creator, meter)
        if not signature_ok(batch, bytes.fromhex(meter["publicKey"])):
            raise refuse(Code.BAD_METER_SIGNATURE, f"the batch is not signed by meter {meter_id}'s key")
        head = stub.get_json(head_key(meter_id)) or {"seq": 0, "hash": "", "readings": 0}
        if batch["seq"] != head["seq"] + 1 or batch["prev"] != head["hash"]:
            raise refuse(Code.BAD_BATCH_LINK, f"meter {meter_id}'s next batch is seq {head['seq'] + 1} with prev {head['hash'] or '(empty)'}; got seq {batch['seq']}")
        readings = check_readings(batch["readings"], stub.timestamp_ms // 60_000)
        for reading in readings:
            if stub.get_json(reading_key(meter_id, reading.start_iso)) is not None:
                raise refuse(Code.DUPLICATE_READING, f"meter {meter_id} already has a reading for {reading.start_iso}")
        alerts = self._alerts(stub, meter, readings)
        digest = batch_hash(batch)
        stub.put_json(batch_key(meter_id, batch["seq"]), {"batch": batch, "hash": digest, "txId": stub.tx_id, "submittedBy": stub.creator.id, "submittedAt": stub.timestamp_ms})
        months: dict[str, int] = {}
        for reading in readings:
            stub.put_json(reading_key(meter_id, reading.start_iso), {**reading.as_record(), "seq": batch["seq"]})
            month = local_month(reading.start, meter["utc_offset_minutes"])
            months[month] = months.get(month, 0) + reading.wh
        for month, wh in sorted(months.items()):
            stub.put_json(month_key(meter_id, month), (stub.get_json(month_key(meter_id, month)) or 0) + wh)
        stub.put_json(head_key(meter_id), {"seq": batch["seq"], "hash": digest, "readings": head["readings"] + len(readings)})
        for alert in alerts:
            stub.put_json(alert_key(meter_id, compact(parse_iso_minutes(alert["start"], "start")), alert["rule"]), alert)
        stub.set_event("readingsSubmit", {"meterId": meter_id, "seq": batch["seq"], "readings": len(readings), "alerts": len(alerts)})
        if alerts:
            stub.set_event("meterAlert", {"meterId": meter_id, "alerts": [{k: a[k] for k in ("alertId", "rule", "start", "value", "limit")} for a in alerts]})
        return {"meterId": meter_id, "seq": batch["seq"], "hash": digest, "readings": len(readings), "alerts": alerts}

    def _alerts(self, stub: Stub, meter: dict[str, Any], readings: list[Reading]) -> list[dict[str, Any]]:
        """One alert record per (interval, broken rule); SPIKE compares with the interval just before."""
        meter_id = meter["meterId"]
        found: list[dict[str, Any]] = []
        for index, reading in enumerate(readings):
            before = reading.start - INTERVAL_MIN
            if index and readings[index - 1].start == before:
                previous_wh: int | None = readings[index - 1].wh
            else:
                previous = stub.get_json(reading_key(meter_id, iso(before)))
                previous_wh = None if previous is None else previous["wh"]
            for finding in check_interval(self.rules, meter["rated_w"], reading, previous_wh):
                found.append({
                    "alertId": alert_id(meter_id, compact(reading.start), finding.rule), "meterId": meter_id, "rule": finding.rule,
                    "start": reading.start_iso, "value": finding.value, "limit": finding.limit, "status": "open",
                    "raisedAt": stub.timestamp_ms, "ackDueAt": stub.timestamp_ms + ALERT_ACK_HOURS * HOUR_MS,
                    "escalatedDueAt": stub.timestamp_ms + ALERT_ESCALATE_HOURS * HOUR_MS, "txId": stub.tx_id,
                    **_scope_fields(meter),
                })
        return found

    @query("queryReadings", "meterId", "fromIso", "toIso")
    def query_readings(self, stub: Stub, meter_id: str, from_iso: str, to_iso: str) -> list[dict[str, Any]]:
        """Readings with start in [fromIso, toIso), in time order (at most READINGS_SPAN_DAYS_MAX days)."""
        checks.check_id(meter_id, "meterId")
        low, high = parse_iso_minutes(from_iso, "fromIso"), parse_iso_minutes(to_iso, "toIso")
        if not 0 < high - low <= READINGS_SPAN_DAYS_MAX * DAY_MIN:
            raise refuse(Code.BAD_RANGE, f"toIso must be after fromIso and at most {READINGS_SPAN_DAYS_MAX} days later")
        meter = checks.existing_meter(stub, meter_id)
        access.require_scope(stub.creator, meter, self.regulator_org)
        rows = stub.range_json(reading_key(meter_id, iso(low)), reading_key(meter_id, iso(high)), READINGS_SPAN_DAYS_MAX * 96)
        return [row for _, row in rows]

    @query("queryMonthlyWh", "meterId")
    def query_monthly_wh(self, stub: Stub, meter_id: str) -> dict[str, int]:
        """Wh recorded per local month ({"YYYY-MM": wh}, in month order): the year-on-year chart."""
        checks.check_id(meter_id, "meterId")
        access.require_scope(stub.creator, checks.existing_meter(stub, meter_id), self.regulator_org)
        prefix = month_key(meter_id, "")
        return {key[len(prefix):]: wh for key, wh in stub.prefix_json(prefix, LIST_MAX)}

    @query("queryBatch", "meterId", "seq")
    def query_batch(self, stub: Stub, meter_id: str, seq: str) -> dict[str, Any]:
        """One stored batch as submitted, with its hash and the id of the transaction that
        recorded it (what an inclusion proof starts from)."""
        checks.check_id(meter_id, "meterId")
        if not seq.isdigit() or not 0 < int(seq) <= SEQ_MAX:
            raise refuse(Code.BAD_NUMBER, f"seq must be a whole number from 1 to {SEQ_MAX}, got {seq!r}")
        meter = checks.existing_meter(stub, meter_id)
        access.require_scope(stub.creator, meter, self.regulator_org)
        stored = stub.get_json(batch_key(meter_id, int(seq)))
        if stored is None:
            raise refuse(Code.UNKNOWN_BATCH, f"meter {meter_id} has no batch {seq}")
        assert isinstance(stored, dict)
        return stored

    @query("verifyMeterChain", "meterId")
    def verify_meter_chain(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """Re-check every stored batch (signature, seq, link) and every reading record and month
        total derived from them (`chain_check`): an edited, deleted or added record is named."""
        checks.check_id(meter_id, "meterId")
        meter = checks.existing_meter(stub, meter_id)
        access.require_scope(stub.creator, meter, self.regulator_org)
        return chain_check.verify_chain(stub, meter)

    # --- alerts ---------------------------------------------------------------------------

    @query("listAlerts", "meterId")
    def list_alerts(self, stub: Stub, meter_id: str) -> list[dict[str, Any]]:
        """One meter's alerts, or ("" ) every alert the caller may read; at most LIST_MAX."""
        if meter_id:
            checks.check_id(meter_id, "meterId")
            access.require_scope(stub.creator, checks.existing_meter(stub, meter_id), self.regulator_org)
        else:
            access.require_lister(stub.creator, self.regulator_org)
        rows = stub.prefix_json(alert_prefix(meter_id) if meter_id else ALERT_PREFIX, BATCHES_MAX)
        if meter_id:  # the meter's scope was checked: these are its alerts
            return [a for _, a in rows][:LIST_MAX]
        return [a for _, a in rows if not access.scope_problem(stub.creator, a, self.regulator_org)][:LIST_MAX]

    @transaction("alertAck", "alertId")
    def alert_ack(self, stub: Stub, alert_id_text: str) -> dict[str, Any]:
        """The meter's organization's staff takes the work order."""
        key, alert = self._alert(stub, alert_id_text)
        if alert["status"] == "resolved":
            raise refuse(Code.ALERT_RESOLVED, f"alert {alert_id_text} is already resolved")
        if alert["status"] != "open":
            raise refuse(Code.ALERT_ALREADY_ACKED, f"alert {alert_id_text} was acknowledged by {alert['ackBy']}")
        alert.update(status="acknowledged", ackBy=stub.creator.id, ackAt=stub.timestamp_ms)
        stub.put_json(key, alert)
        stub.set_event("alertAck", {"alertId": alert_id_text, "by": stub.creator.id})
        return alert

    @transaction("alertResolve", "alertId", "evidenceSha256")
    def alert_resolve(self, stub: Stub, alert_id_text: str, evidence_sha256: str) -> dict[str, Any]:
        """Close the work order with the SHA-256 of the evidence (the report stays off the ledger)."""
        checks.check_sha256(evidence_sha256, "evidenceSha256")
        key, alert = self._alert(stub, alert_id_text)
        if alert["status"] == "resolved":
            raise refuse(Code.ALERT_RESOLVED, f"alert {alert_id_text} is already resolved")
        alert.update(status="resolved", resolvedBy=stub.creator.id, resolvedAt=stub.timestamp_ms, evidenceSha256=evidence_sha256)
        stub.put_json(key, alert)
        stub.set_event("alertResolve", {"alertId": alert_id_text, "by": stub.creator.id, "evidenceSha256": evidence_sha256})
        return alert

    def _alert(self, stub: Stub, alert_id_text: str) -> tuple[str, dict[str, Any]]:
        key = alert_key_of_id(alert_id_text)
        alert = stub.get_json(key) if key else None
        if key is None or alert is None:
            raise refuse(Code.UNKNOWN_ALERT, f"no alert {alert_id_text!r}")
        access.require_org(stub.creator, alert)
        return key, alert

    # --- tariffs --------------------------------------------------------------------------

    @transaction("tariffSet", "tariffId", "tariffJson")
    def tariff_set(self, stub: Stub, tariff_id: str, tariff_json: str) -> dict[str, Any]:
        """A new version of a tariff (never an edit), by an administrator of the regulator."""
        checks.check_id(tariff_id, "tariffId")
        creator = stub.creator
        if creator.org != self.regulator_org or creator.role != "admin":
            raise refuse(Code.NOT_AUTHORIZED, f"tariffs are set by an administrator of {self.regulator_org}, not {creator.id}")
        return set_tariff(stub, tariff_id, tariff_json)

    @query("queryTariff", "tariffId")
    def query_tariff(self, stub: Stub, tariff_id: str) -> dict[str, Any]:
        """The newest version and the list of all versions (tariffs are public to members)."""
        checks.check_id(tariff_id, "tariffId")
        latest = latest_tariff(stub, tariff_id)
        return {**latest, "versions": [{k: v[k] for k in ("version", "hash", "effective_from")} for v in tariff_versions(stub, tariff_id)]}

    # --- bills ----------------------------------------------------------------------------

    @transaction("settle", "meterId", "period")
    def settle(self, stub: Stub, meter_id: str, period: str) -> dict[str, Any]:
        """Write the month's bill once, from every interval of the period and the tariff in force."""
        checks.check_id(meter_id, "meterId")
        year, month = parse_period(period)
        meter = checks.existing_meter(stub, meter_id)
        access.require_settler(stub.creator, meter, self.regulator_org)
        if stub.get_json(bill_key(meter_id, period)) is not None:
            raise refuse(Code.BILL_EXISTS, f"meter {meter_id} is already billed for {period}")
        version = effective_tariff(stub, meter["tariffId"], f"{period}-01")
        tariff = version["tariff"]
        start, end = local_month_bounds(year, month, meter["utc_offset_minutes"])
        rows = stub.range_json(reading_key(meter_id, iso(start)), reading_key(meter_id, iso(end)), PERIOD_READINGS_MAX)
        expected = (end - start) // INTERVAL_MIN
        if len(rows) < expected:
            have = {row["start"] for _, row in rows}
            first_missing = next(iso(m) for m in range(start, end, INTERVAL_MIN) if iso(m) not in have)
            raise refuse(Code.READINGS_INCOMPLETE, f"{period} needs {expected} intervals, meter {meter_id} has {len(rows)}; first missing {first_missing}")
        readings = [row for _, row in rows]
        prior = sum(stub.get_json(month_key(meter_id, f"{year:04d}-{m:02d}")) or 0 for m in range(1, month))
        lines, total = bill_lines([Interval(parse_iso_minutes(r["start"], "start"), r["wh"], r["varh"]) for r in readings], tariff, prior)
        root = merkle_root([canonical_json({k: r[k] for k in ("start", "wh", "varh", "peak_w")}) for r in readings]).hex()
        bill = {
            "meterId": meter_id, "period": period, "lines": lines, "total_fen": total, "currency": tariff["currency"],
            "tariffId": meter["tariffId"], "tariff_version": version["version"], "tariff_hash": version["hash"], "readings_root": root,
            "intervals": len(readings), "wh": sum(r["wh"] for r in readings), "varh": sum(r["varh"] for r in readings),
            "year_wh_before": prior, "settledBy": stub.creator.id, "settledAt": stub.timestamp_ms, "txId": stub.tx_id, **_scope_fields(meter),
        }
        stub.put_json(bill_key(meter_id, period), bill)
        stub.set_event("settle", {"meterId": meter_id, "period": period, "total_fen": total, "tariffId": meter["tariffId"], "tariff_version": version["version"], "tariff_hash": version["hash"]})
        return bill

    @query("queryBill", "meterId", "period")
    def query_bill(self, stub: Stub, meter_id: str, period: str) -> dict[str, Any]:
        checks.check_id(meter_id, "meterId")
        parse_period(period)
        meter = checks.existing_meter(stub, meter_id)
        access.require_scope(stub.creator, meter, self.regulator_org)
        bill = stub.get_json(bill_key(meter_id, period))
        if bill is None:
            raise refuse(Code.UNKNOWN_BILL, f"meter {meter_id} has no bill for {period}; settle it first")
        assert isinstance(bill, dict)
        return bill

    @query("listBills", "meterId")
    def list_bills(self, stub: Stub, meter_id: str) -> list[dict[str, Any]]:
        """One meter's bills, or ("") every bill the caller may read; at most LIST_MAX."""
        if meter_id:
            checks.check_id(meter_id, "meterId")
            access.require_scope(stub.creator, checks.existing_meter(stub, meter_id), self.regulator_org)
        else:
            access.require_lister(stub.creator, self.regulator_org)
        rows = stub.prefix_json(f"bill/{meter_id}/" if meter_id else "bill/", BATCHES_MAX)
        if meter_id:  # the meter's scope was checked: these are its bills
            return [b for _, b in rows][:LIST_MAX]
        return [b for _, b in rows if not access.scope_problem(stub.creator, b, self.regulator_org)][:LIST_MAX]


def _scope_fields(meter: dict[str, Any]) -> dict[str, Any]:
    """What reads of an alert or bill are scoped by, copied from its meter."""
    return {k: meter[k] for k in ("org", "region", "voltageKv", "voltage_v", "customerRef")}
