"""`verifyMeterChain`: re-check a meter's signed batches and every record derived from them.

The batches are the evidence (each signed by the meter, each linking the one before); the
reading records (`r/...`, what queryReadings, charts and bills read) and the monthly totals
(`w/...`, what the annual tiers read) are copies kept for fast reads. A copy edited or
deleted straight in a peer's state database would change bills without touching a batch,
so the check compares them with the verified batches and names each record that differs:
  - a batch whose signature, seq or link fails, or the head that does not match the last;
  - a reading of a verified batch whose record is missing (deleted) or differs (edited);
  - a reading record that no verified batch signed (added);
  - a month total that is not the sum of the verified readings of that local month.
Records of a batch that fails its own check are not compared (that batch is reported).
"""

from __future__ import annotations

from typing import Any

from chaincode.metering.batches import READING_FIELDS, batch_hash, signature_ok
from chaincode.metering.clock import iso, local_month, parse_iso_minutes
from chaincode.metering.errors import BATCHES_MAX, INTERVAL_MIN
from chaincode.metering.keys import batch_prefix, head_key, month_key, reading_key, reading_prefix
from chaincode.shim import RANGE_ENTRIES_MAX, Stub, prefix_range

WINDOW_MIN = 50 * 24 * 60  # reading records are compared in windows of 50 days (4,800 intervals)


def _problem(key: str, seq: Any, problem: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "seq": seq, "problem": problem, **extra}


def check_batches(stub: Stub, meter_id: str, public_key: bytes) -> tuple[int, list[dict[str, Any]], dict[str, tuple[int, dict[str, Any]]], bool]:
    """(batches, problems, {start: (seq, signed reading)} of the verified batches, all verified)."""
    problems: list[dict[str, Any]] = []
    signed: dict[str, tuple[int, dict[str, Any]]] = {}
    expected_prev, count, all_ok = "", 0, True
    for key, stored in stub.prefix_json(batch_prefix(meter_id), BATCHES_MAX):
        count += 1
        batch = stored.get("batch") if isinstance(stored, dict) else None
        if not isinstance(batch, dict):
            problems.append(_problem(key, count, "the stored batch cannot be read"))
            expected_prev, all_ok = "", False
            continue
        seq = batch.get("seq")
        found = len(problems)
        if seq != count:
            problems.append(_problem(key, seq, f"sequence number {seq}, expected {count}"))
        if not signature_ok(batch, public_key):
            problems.append(_problem(key, seq, "the meter's signature does not verify"))
        if batch.get("prev") != expected_prev:
            problems.append(_problem(key, seq, "prev is not the hash of the batch before"))
        expected_prev = batch_hash(batch)
        if len(problems) == found:
            for reading in batch["readings"]:
                signed[reading["start"]] = (count, reading)
        else:
            all_ok = False
    head = stub.get_json(head_key(meter_id)) or {"seq": 0, "hash": ""}
    if head["seq"] != count or head["hash"] != expected_prev:
        problems.append(_problem(head_key(meter_id), head["seq"], "the chain head does not match the last batch"))
    return count, problems, signed, all_ok


def _records(stub: Stub, meter_id: str, signed: dict[str, tuple[int, dict[str, Any]]]) -> list[tuple[str, Any]]:
    """Every reading record of the meter, read in windows small enough for one range scan."""
    low_key, high_key = prefix_range(reading_prefix(meter_id))
    if not signed:
        return stub.range_json(low_key, high_key, RANGE_ENTRIES_MAX)
    minutes = sorted(parse_iso_minutes(start, "start") for start in signed)
    first, end = minutes[0], minutes[-1] + INTERVAL_MIN
    rows = stub.range_json(low_key, reading_key(meter_id, iso(first)), RANGE_ENTRIES_MAX)
    for window in range(first, end, WINDOW_MIN):
        rows += stub.range_json(reading_key(meter_id, iso(window)), reading_key(meter_id, iso(min(window + WINDOW_MIN, end))), RANGE_ENTRIES_MAX)
    return rows + stub.range_json(reading_key(meter_id, iso(end)), high_key, RANGE_ENTRIES_MAX)


def check_records(stub: Stub, meter: dict[str, Any], signed: dict[str, tuple[int, dict[str, Any]]], skipped_seqs: bool) -> list[dict[str, Any]]:
    """Problems of the reading records and month totals against the verified batches' readings."""
    meter_id = meter["meterId"]
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key, record in _records(stub, meter_id, signed):
        start = key[len(reading_prefix(meter_id)):]
        entry = signed.get(start)
        if entry is None:
            if not skipped_seqs:  # with a batch failing, its readings are not known: that batch is reported
                problems.append(_problem(key, record.get("seq") if isinstance(record, dict) else None, f"the reading record of {start} was added: no signed batch has it", start=start))
            continue
        seen.add(start)
        seq, reading = entry
        stored = {k: record.get(k) for k in (*READING_FIELDS, "seq")} if isinstance(record, dict) else {}
        if stored != {**reading, "seq": seq}:
            changed = ", ".join(f"{k} {stored.get(k)!r} (signed: {v!r})" for k, v in {**reading, "seq": seq}.items() if stored.get(k) != v)
            problems.append(_problem(key, seq, f"the reading record of {start} was edited: {changed}", start=start))
    for start in sorted(set(signed) - seen):
        seq, _ = signed[start]
        problems.append(_problem(reading_key(meter_id, start), seq, f"the reading record of {start} was deleted: batch {seq} signed it", start=start))
    if not skipped_seqs:
        problems += _check_months(stub, meter, signed)
    return problems


def _check_months(stub: Stub, meter: dict[str, Any], signed: dict[str, tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    meter_id, offset = meter["meterId"], meter["utc_offset_minutes"]
    totals: dict[str, int] = {}
    for start, (_, reading) in signed.items():
        month = local_month(parse_iso_minutes(start, "start"), offset)
        totals[month] = totals.get(month, 0) + reading["wh"]
    prefix = month_key(meter_id, "")
    stored = {key[len(prefix):]: value for key, value in stub.prefix_json(prefix, RANGE_ENTRIES_MAX)}
    problems = []
    for month in sorted(set(totals) | set(stored)):
        if stored.get(month) != totals.get(month):
            problems.append(_problem(month_key(meter_id, month), None, f"the month total of {month} is {stored.get(month)!r} Wh; the signed readings sum to {totals.get(month, 0)} Wh", month=month))
    return problems


def verify_chain(stub: Stub, meter: dict[str, Any]) -> dict[str, Any]:
    """The report of `verifyMeterChain`: {"ok", "meterId", "batches", "problems"}."""
    count, problems, signed, all_ok = check_batches(stub, meter["meterId"], bytes.fromhex(meter["publicKey"]))
    problems += check_records(stub, meter, signed, skipped_seqs=not all_ok)
    return {"ok": not problems, "meterId": meter["meterId"], "batches": count, "problems": problems}
