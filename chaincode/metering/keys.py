"""State keys of the metering chaincode (inside its namespace). Fixed-width parts keep range
scans in order: readings by UTC start, batches by zero-padded sequence number."""

from __future__ import annotations

METER_PREFIX = "m/"
ALERT_PREFIX = "a/"


def meter_key(meter_id: str) -> str:
    return f"m/{meter_id}"


def head_key(meter_id: str) -> str:
    """The meter's chain head: last seq and hash (a key of its own, so the meter record stays static)."""
    return f"h/{meter_id}"


def batch_key(meter_id: str, seq: int) -> str:
    return f"b/{meter_id}/{seq:010d}"


def batch_prefix(meter_id: str) -> str:
    return f"b/{meter_id}/"


def reading_key(meter_id: str, start_iso: str) -> str:
    return f"r/{meter_id}/{start_iso}"


def reading_prefix(meter_id: str) -> str:
    return f"r/{meter_id}/"


def month_key(meter_id: str, month: str) -> str:
    """Wh recorded per local month (tiers need the consumption since 1 January)."""
    return f"w/{meter_id}/{month}"


def alert_key(meter_id: str, start_compact: str, rule: str) -> str:
    return f"a/{meter_id}/{start_compact}/{rule}"


def alert_prefix(meter_id: str) -> str:
    return f"a/{meter_id}/"


def alert_id(meter_id: str, start_compact: str, rule: str) -> str:
    return f"{meter_id}.{start_compact}.{rule}"


def alert_key_of_id(alert_id_text: str) -> str | None:
    parts = alert_id_text.split(".")
    return alert_key(*parts) if len(parts) == 3 and all(parts) else None


def bill_key(meter_id: str, period: str) -> str:
    return f"bill/{meter_id}/{period}"


def tariff_key(tariff_id: str) -> str:
    """{"latest": n}: the number of the tariff's newest version."""
    return f"t/{tariff_id}"


def tariff_version_key(tariff_id: str, version: int) -> str:
    return f"tv/{tariff_id}/{version:06d}"


def tariff_version_prefix(tariff_id: str) -> str:
    return f"tv/{tariff_id}/"
