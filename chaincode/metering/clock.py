"""Times as the metering contract writes them: UTC ISO strings, whole minutes, local months.

Every reading's `start` is `YYYY-MM-DDTHH:MM:00Z`; the fixed width makes the strings sort in
time order, so state keys built from them range-scan by time. Arithmetic is on epoch minutes
(integers), so every peer computes the same answer.
"""

from __future__ import annotations

import calendar
import re
import time

from chaincode.metering.errors import INTERVAL_MIN, Code
from chaincode.shim import refuse

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z")
_PERIOD = re.compile(r"(\d{4})-(\d{2})")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
YEAR_MIN, YEAR_MAX = 2000, 2199


def parse_iso_minutes(text: object, what: str) -> int:
    """Epoch minutes of a `YYYY-MM-DDTHH:MM:SSZ` string (seconds must be 00); BAD_TIME otherwise."""
    match = _ISO.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise refuse(Code.BAD_TIME, f"{what} must be a UTC time like 2026-11-03T10:15:00Z, got {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if not (YEAR_MIN <= year <= YEAR_MAX and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 and second == 0):
        raise refuse(Code.BAD_TIME, f"{what} {text!r} is not a valid UTC time in whole minutes")
    return calendar.timegm((year, month, day, hour, minute, 0)) // 60


def iso(minutes: int) -> str:
    """The `YYYY-MM-DDTHH:MM:00Z` form of epoch minutes."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minutes * 60))


def compact(minutes: int) -> str:
    """`YYYYMMDDTHHMM`: an interval's start inside an alert id."""
    return time.strftime("%Y%m%dT%H%M", time.gmtime(minutes * 60))


def is_aligned(minutes: int) -> bool:
    return minutes % INTERVAL_MIN == 0


def parse_period(text: str) -> tuple[int, int]:
    """(year, month) of a `YYYY-MM` period; BAD_PERIOD otherwise."""
    match = _PERIOD.fullmatch(text)
    year, month = (int(g) for g in match.groups()) if match else (0, 0)
    if not (YEAR_MIN <= year <= YEAR_MAX and 1 <= month <= 12):
        raise refuse(Code.BAD_PERIOD, f"period must be YYYY-MM (e.g. 2026-11), got {text!r}")
    return year, month


def parse_date(text: object, what: str) -> str:
    """A `YYYY-MM-DD` calendar date, returned as given."""
    match = _DATE.fullmatch(text) if isinstance(text, str) else None
    ok = match is not None
    if match is not None:
        year, month, day = (int(g) for g in match.groups())
        ok = YEAR_MIN <= year <= YEAR_MAX and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
    if not ok:
        raise refuse(Code.BAD_TARIFF, f"{what} must be a date YYYY-MM-DD, got {text!r}")
    return str(text)


def local_month_bounds(year: int, month: int, utc_offset_minutes: int) -> tuple[int, int]:
    """[start, end) in UTC epoch minutes of a calendar month in local time."""
    start = calendar.timegm((year, month, 1, 0, 0, 0)) // 60 - utc_offset_minutes
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    end = calendar.timegm((next_year, next_month, 1, 0, 0, 0)) // 60 - utc_offset_minutes
    return start, end


def local_month(minutes: int, utc_offset_minutes: int) -> str:
    """`YYYY-MM` of the local month an instant falls in."""
    return time.strftime("%Y-%m", time.gmtime((minutes + utc_offset_minutes) * 60))


def local_hour(minutes: int, utc_offset_minutes: int) -> int:
    return ((minutes + utc_offset_minutes) // 60) % 24
