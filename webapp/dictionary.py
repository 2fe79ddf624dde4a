"""The data dictionary of a dataset: each column's type, timestamps recognised, units read
from column names where the name makes them evident (`load_kw`, `voltage_v`, `temp_c`).

Inference looks at a sample of values, never the whole file, and only claims a unit when a
name token is one of the well-known electrical or physical ones below: a wrong unit is worse
than none.
"""

from __future__ import annotations

import re
from datetime import datetime

# name tokens (lowercase) → unit, for the last tokens of a column name
UNIT_TOKENS = {
    "kw": "kW", "kwh": "kWh", "mw": "MW", "mwh": "MWh", "gw": "GW", "gwh": "GWh", "w": "W", "wh": "Wh",
    "kvar": "kvar", "var": "var", "kva": "kVA", "va": "VA", "v": "V", "kv": "kV", "volt": "V", "volts": "V", "voltage": "V",
    "a": "A", "amp": "A", "amps": "A", "ampere": "A", "current": "A", "hz": "Hz", "frequency": "Hz", "freq": "Hz",
    "c": "°C", "degc": "°C", "celsius": "°C", "temp": "°C", "temperature": "°C", "pct": "%", "percent": "%",
    "eur": "EUR", "usd": "USD",
}
TIME_NAME_TOKENS = {"time", "timestamp", "ts", "datetime", "date", "epoch", "utc", "when", "at"}
EPOCH_S_RANGE = (946_684_800, 4_102_444_800)  # 2000-01-01 .. 2100-01-01 in seconds
EPOCH_MS_RANGE = (EPOCH_S_RANGE[0] * 1000, EPOCH_S_RANGE[1] * 1000)
_TOKEN_RE = re.compile(r"[a-z0-9]+")


def name_tokens(name: str) -> list[str]:
    """`LoadKW`, `load_kw`, `load-kW` all give ['load', 'kw']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return _TOKEN_RE.findall(spaced.lower())


def unit_of(name: str) -> str:
    """The unit a column name states in its last token (or in brackets), else ''."""
    bracketed = re.search(r"[\[(]([^\])]+)[\])]", name)
    if bracketed and bracketed.group(1).strip().lower() in UNIT_TOKENS:
        return UNIT_TOKENS[bracketed.group(1).strip().lower()]
    tokens = name_tokens(name)
    if len(tokens) >= 2 and tokens[-1] in UNIT_TOKENS:
        return UNIT_TOKENS[tokens[-1]]
    if len(tokens) == 1 and tokens[0] in UNIT_TOKENS and len(tokens[0]) > 2:  # `voltage`, not a lone `a`
        return UNIT_TOKENS[tokens[0]]
    return ""


def _is_iso_time(value: str) -> bool:
    text = value.strip()
    if len(text) < 8 or not text[:4].isdigit():
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _scalar_type(values: list[str]) -> str:
    for kind, parse in (("integer", int), ("number", float)):
        try:
            for value in values:
                parse(value)
            return kind
        except ValueError:
            continue
    return "text"


def describe_column(name: str, values: list[str]) -> dict[str, str]:
    """{name, type, unit?}: type is empty, integer, number, text or timestamp."""
    present = [v for v in values if v.strip() != ""]
    if not present:
        return {"name": name, "type": "empty"}
    kind = _scalar_type(present)
    if kind == "text" and all(_is_iso_time(v) for v in present):
        return {"name": name, "type": "timestamp", "unit": "ISO 8601"}
    if kind == "integer" and set(name_tokens(name)) & TIME_NAME_TOKENS:
        numbers = [int(v) for v in present]
        for low_high, unit in ((EPOCH_S_RANGE, "seconds since 1970"), (EPOCH_MS_RANGE, "milliseconds since 1970")):
            if all(low_high[0] <= n < low_high[1] for n in numbers):
                return {"name": name, "type": "timestamp", "unit": unit}
    column = {"name": name, "type": kind}
    unit = unit_of(name) if kind in ("integer", "number") else ""
    if unit:
        column["unit"] = unit
    return column
