"""Argument checks and record loads of the metering contract: each refuses with a code, writing nothing."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import msgspec

from chaincode.metering.errors import DECIMALS_MAX, ID_PATTERN, REGION_PATTERN, SHA256_HEX_PATTERN, Code
from chaincode.metering.keys import meter_key
from chaincode.shim import Stub, refuse

_ID = re.compile(ID_PATTERN)
_REGION = re.compile(REGION_PATTERN)
_SHA = re.compile(SHA256_HEX_PATTERN)
_DECIMAL = re.compile(rf"[0-9]{{1,7}}(\.[0-9]{{1,{DECIMALS_MAX}}})?")
_decode = msgspec.json.Decoder().decode


def json_document(text: str, *, code: Code, what: str, max_bytes: int, fields: frozenset[str], fields_rule: str) -> dict[str, Any]:
    """A submitted document's envelope: at most `max_bytes` of UTF-8, JSON, an object with
    exactly `fields` (refused with `code`, the message naming `what`, the fields after
    `fields_rule`). Its fields' own values are the caller's to check."""
    if len(text.encode("utf-8")) > max_bytes:
        raise refuse(code, f"a {what} is at most {max_bytes} bytes of JSON")
    try:
        document = _decode(text)
    except msgspec.DecodeError as exc:
        raise refuse(code, f"the {what} is not JSON: {exc}") from None
    if not isinstance(document, dict) or set(document) != fields:
        raise refuse(code, f"a {what} {fields_rule} {sorted(fields)}")
    return document


def check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise refuse(Code.BAD_ID, f"{what} {value!r} must be 1 to 40 characters of A-Z a-z 0-9 _ -")
    return value


def check_region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise refuse(Code.BAD_REGION, f"region {value!r} must be an upper-case code path like CN-32-01")
    return value


def check_sha256(value: str, what: str) -> str:
    if not _SHA.fullmatch(value):
        raise refuse(Code.BAD_HASH, f"{what} must be a SHA-256 in 64 lowercase hex digits")
    return value


def check_milli(text: str, what: str, maximum: int) -> int:
    """A positive decimal with at most DECIMALS_MAX decimals, as thousandths (kW -> W, kV -> V)."""
    value = Fraction(text) * 1000 if _DECIMAL.fullmatch(text) else Fraction(0)
    if not 0 < value <= maximum * 1000:
        raise refuse(Code.BAD_NUMBER, f"{what} must be a number above 0 and at most {maximum}, with at most {DECIMALS_MAX} decimals, got {text!r}")
    return int(value)


def existing_meter(stub: Stub, meter_id: str, *, active: bool = False) -> dict[str, Any]:
    meter = stub.get_json(meter_key(meter_id))
    if meter is None:
        raise refuse(Code.UNKNOWN_METER, f"no meter {meter_id!r} is registered")
    if active and meter["status"] != "active":
        raise refuse(Code.METER_RETIRED, f"meter {meter_id!r} is retired and takes no readings")
    assert isinstance(meter, dict)
    return meter
