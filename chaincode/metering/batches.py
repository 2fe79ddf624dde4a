"""Signed reading batches: their canonical bytes, their hash, and the checks on their shape.

A batch is `{"meterId", "seq", "prev", "readings": [...], "sig"}`. The meter signs the
canonical JSON of the batch without `sig`; `prev` is the hash of the previous batch (the
SHA-256 of the canonical JSON of the whole batch, `sig` included, so the chain also binds
the signatures). Collectors and the simulator build batches with `sign_batch`, the contract
checks them with `check_batch` and `signature_ok`: one definition of the bytes on both sides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaincode.metering.checks import json_document
from chaincode.metering.clock import is_aligned, parse_iso_minutes
from chaincode.metering.errors import BATCH_BYTES_MAX, BATCH_READINGS_MAX, INTERVAL_MIN, INTERVALS_PER_DAY, READING_VALUE_MAX, SHA256_HEX_PATTERN, Code
from chaincode.shim import canonical_json, refuse
from ledger.core.identity import verify_signature

BATCH_FIELDS = frozenset({"meterId", "seq", "prev", "readings", "sig"})
READING_FIELDS = ("start", "wh", "varh", "peak_w")
VALUE_FIELDS = ("wh", "varh", "peak_w")
SEQ_MAX = 10**9
_SHA = re.compile(SHA256_HEX_PATTERN)
_SIG = re.compile(r"[0-9a-f]{128}")


@dataclass(frozen=True, slots=True)
class Reading:
    """One checked 15-minute interval: start in epoch minutes, integers."""

    start: int
    start_iso: str
    wh: int
    varh: int
    peak_w: int

    def as_record(self) -> dict[str, Any]:
        return {"start": self.start_iso, "wh": self.wh, "varh": self.varh, "peak_w": self.peak_w}


def signed_bytes(batch: dict[str, Any]) -> bytes:
    """What the meter signs: the canonical JSON of the batch without `sig`."""
    return canonical_json({k: v for k, v in batch.items() if k != "sig"})


def batch_hash(batch: dict[str, Any]) -> str:
    """The link the next batch names as `prev`."""
    return hashlib.sha256(canonical_json(batch)).hexdigest()


def sign_batch(sign: Callable[[bytes], bytes], meter_id: str, seq: int, prev: str, readings: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch signed with the meter's key (`sign` is e.g. `SigningIdentity.sign`)."""
    batch: dict[str, Any] = {"meterId": meter_id, "seq": seq, "prev": prev, "readings": readings}
    batch["sig"] = sign(signed_bytes(batch)).hex()
    return batch


def signature_ok(batch: dict[str, Any], public_key: bytes) -> bool:
    sig = batch.get("sig")
    if not isinstance(sig, str) or not _SIG.fullmatch(sig):
        return False
    return verify_signature(public_key, signed_bytes(batch), bytes.fromhex(sig))


def parse_batch(batch_json: str, meter_id: str) -> dict[str, Any]:
    """The batch document, its envelope fields checked (readings are checked by `check_readings`)."""
    batch = json_document(
        batch_json, code=Code.BAD_BATCH, what="batch", max_bytes=BATCH_BYTES_MAX, fields=BATCH_FIELDS, fields_rule="is an object with exactly the fields"
    )
    if batch["meterId"] != meter_id:
        raise refuse(Code.BAD_BATCH, f"the batch names meter {batch['meterId']!r}, submitted for {meter_id!r}")
    seq, prev = batch["seq"], batch["prev"]
    if not _is_int(seq) or not 1 <= seq <= SEQ_MAX:
        raise refuse(Code.BAD_BATCH, f"seq must be a whole number from 1 to {SEQ_MAX}, got {seq!r}")
    if not isinstance(prev, str) or not (prev == "" or _SHA.fullmatch(prev)):
        raise refuse(Code.BAD_BATCH, "prev must be \"\" (first batch) or the previous batch's SHA-256 in lowercase hex")
    readings = batch["readings"]
    if not isinstance(readings, list) or not 1 <= len(readings) <= BATCH_READINGS_MAX:
        raise refuse(Code.BAD_BATCH, f"readings must be a list of 1 to {BATCH_READINGS_MAX} intervals")
    return batch


def check_readings(raw: list[Any], now_minutes: int) -> list[Reading]:
    """Checked readings in time order: aligned, not in the future, integers >= 0, a day or less."""
    readings: list[Reading] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != set(READING_FIELDS):
            raise refuse(Code.BAD_READING, f"reading {index} must have exactly the fields {list(READING_FIELDS)}")
        start = parse_iso_minutes(item["start"], f"reading {index} start")
        if not is_aligned(start):
            raise refuse(Code.MISALIGNED_INTERVAL, f"reading {index} starts at {item['start']}: intervals start on the quarter hour")
        if start + INTERVAL_MIN > now_minutes:
            raise refuse(Code.FUTURE_INTERVAL, f"reading {index} ({item['start']}) has not ended yet at the transaction's time")
        for name in VALUE_FIELDS:
            value = item[name]
            if not _is_int(value):
                raise refuse(Code.BAD_READING, f"reading {index} {name} must be a whole number, got {value!r}")
            if value < 0:
                raise refuse(Code.NEGATIVE_VALUE, f"reading {index} {name} is negative ({value})")
            if value > READING_VALUE_MAX:
                raise refuse(Code.BAD_READING, f"reading {index} {name} is above {READING_VALUE_MAX}")
        if readings and start == readings[-1].start:
            raise refuse(Code.DUPLICATE_READING, f"the interval {item['start']} appears twice in the batch")
        if readings and start < readings[-1].start:
            raise refuse(Code.BAD_READING, f"reading {index} ({item['start']}) is out of time order")
        readings.append(Reading(start, item["start"], item["wh"], item["varh"], item["peak_w"]))
    if readings[-1].start - readings[0].start >= INTERVALS_PER_DAY * INTERVAL_MIN:
        raise refuse(Code.BAD_BATCH, "a batch covers a day or less")
    return readings


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
