"""Tariff versions in state: append-only, the shipped default as version 0 of its id.

`tariffSet` writes version n+1 and moves the `latest` pointer; nothing is edited in place.
A bill uses the newest version whose `effective_from` is on or before the period's first day;
versions never reach back: each one's `effective_from` is on or after the one before.
Every version of one tariff keeps the same `utc_offset_minutes`, because meters keep their
monthly totals (for the annual tiers) in that local time.
"""

from __future__ import annotations

from typing import Any

from chaincode.metering.errors import TARIFF_VERSIONS_MAX, Code
from chaincode.metering.keys import tariff_key, tariff_version_key, tariff_version_prefix
from chaincode.metering.tariffs import DEFAULT_TARIFF, DEFAULT_TARIFF_ID, parse_tariff, tariff_hash
from chaincode.shim import Stub, refuse


def _default_version() -> dict[str, Any]:
    return {"tariffId": DEFAULT_TARIFF_ID, "version": 0, "tariff": DEFAULT_TARIFF, "hash": tariff_hash(DEFAULT_TARIFF), "effective_from": DEFAULT_TARIFF["effective_from"], "setBy": "(shipped)", "setAt": 0}


def latest_tariff(stub: Stub, tariff_id: str) -> dict[str, Any]:
    """The newest version of a tariff; UNKNOWN_TARIFF when it has none."""
    pointer = stub.get_json(tariff_key(tariff_id))
    if pointer is not None:
        version = stub.get_json(tariff_version_key(tariff_id, pointer["latest"]))
        assert isinstance(version, dict), "a tariff pointer names a stored version"
        return version
    if tariff_id == DEFAULT_TARIFF_ID:
        return _default_version()
    raise refuse(Code.UNKNOWN_TARIFF, f"no tariff {tariff_id!r}; a regulator administrator sets it with tariffSet")


def tariff_versions(stub: Stub, tariff_id: str) -> list[dict[str, Any]]:
    """Every version, oldest first (the shipped default first for its id)."""
    stored = [v for _, v in stub.prefix_json(tariff_version_prefix(tariff_id), TARIFF_VERSIONS_MAX)]
    return ([_default_version()] if tariff_id == DEFAULT_TARIFF_ID else []) + stored


def effective_tariff(stub: Stub, tariff_id: str, first_day: str) -> dict[str, Any]:
    """The newest version in force on `first_day` (YYYY-MM-DD); TARIFF_NOT_EFFECTIVE if none."""
    in_force = [v for v in tariff_versions(stub, tariff_id) if v["effective_from"] <= first_day]
    if not in_force:
        raise refuse(Code.TARIFF_NOT_EFFECTIVE, f"no version of tariff {tariff_id!r} is in force on {first_day}")
    return in_force[-1]  # versions are in number order: the shipped one, then by zero-padded key


def set_tariff(stub: Stub, tariff_id: str, tariff_json: str) -> dict[str, Any]:
    tariff = parse_tariff(tariff_id, tariff_json)
    pointer = stub.get_json(tariff_key(tariff_id))
    previous = latest_tariff(stub, tariff_id) if pointer is not None or tariff_id == DEFAULT_TARIFF_ID else None
    number = (pointer["latest"] if pointer else 0) + 1
    if number > TARIFF_VERSIONS_MAX:
        raise refuse(Code.BAD_TARIFF, f"tariff {tariff_id} has {TARIFF_VERSIONS_MAX} versions; use a new tariff id")
    if previous is not None and previous["tariff"]["utc_offset_minutes"] != tariff["utc_offset_minutes"]:
        raise refuse(Code.BAD_TARIFF, "utc_offset_minutes cannot change between versions of a tariff (meters keep monthly totals in it); use a new tariff id")
    if previous is not None and tariff["effective_from"] < previous["effective_from"]:
        raise refuse(
            Code.TARIFF_NOT_LATER,
            f"effective_from {tariff['effective_from']} is before the newest version's {previous['effective_from']}: a new version may not reach back past it",
        )
    version = {"tariffId": tariff_id, "version": number, "tariff": tariff, "hash": tariff_hash(tariff), "effective_from": tariff["effective_from"], "setBy": stub.creator.id, "setAt": stub.timestamp_ms, "txId": stub.tx_id}
    stub.put_json(tariff_version_key(tariff_id, number), version)
    stub.put_json(tariff_key(tariff_id), {"latest": number})
    stub.set_event("tariffSet", {"tariffId": tariff_id, "version": number, "hash": version["hash"]})
    return version
