"""How the contract's records look in the world state: keys and JSON shapes (field names from the seed).

Keys are spread by id so that unrelated transactions never touch the same key:
`user/<id>`, `asset/<id>`, `contenthash/<sha256>` (→ asset id), one key per history entry,
`assethistory/<assetId>/<timestamp_ms:013d>/<tx_id>`, read back by a range scan, and one key
per pending credit, `credit/<userId>/<tx_id>` (see `credit_key`).

A user's balance is its record's Token plus the Amounts of its pending credits. A purchase
from a publisher pays the publisher by a blind write of a new credit key (unique per
transaction, never read by the purchase) instead of rewriting the publisher's record, so
concurrent purchases from one publisher do not conflict. Any transaction that writes a user's
record folds that user's credits into Token and deletes them (a range scan of its credits).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from chaincode.power_data.errors import FIRST_ISSUE_TAG

Record = dict[str, Any]
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

ENROLL = "enroll"
EXCHANGE = "exchange"
MODE_COPY = "copy"  # bought from the publisher: the publisher keeps selling it
MODE_TRANSFER = "transfer"  # bought from a holder: the seller gives it up


def user_key(user_id: str) -> str:
    return f"user/{user_id}"


def asset_key(asset_id: str) -> str:
    return f"asset/{asset_id}"


def content_hash_key(content_hash: str) -> str:
    return f"contenthash/{content_hash}"


def history_prefix(asset_id: str) -> str:
    return f"assethistory/{asset_id}/"


def history_key(asset_id: str, timestamp_ms: int, tx_id: str) -> str:
    return f"{history_prefix(asset_id)}{timestamp_ms:013d}/{tx_id}"


def credit_prefix(user_id: str) -> str:
    return f"credit/{user_id}/"  # ids never contain "/", so one user's prefix never covers another's


def credit_key(user_id: str, tx_id: str) -> str:
    return f"{credit_prefix(user_id)}{tx_id}"


ASSET_PREFIX = "asset/"


def content_hash(metadata: str) -> str | None:
    """The dataset's SHA-256 (lowercase hex) named by the metadata; None if its `sha256` field is malformed.

    Metadata that is a JSON object with a `sha256` field names the off-ledger file's hash;
    any other metadata is itself the content, hashed as UTF-8.
    """
    try:
        parsed = json.loads(metadata)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "sha256" in parsed:
        named = parsed["sha256"]
        if not isinstance(named, str) or not SHA256_HEX.fullmatch(named):
            return None
        return named.lower()
    return hashlib.sha256(metadata.encode("utf-8")).hexdigest()


def new_user(name: str, user_id: str, identity_id: str, timestamp_ms: int) -> Record:
    """A freshly opened account, bound to the identity that signed the registration."""
    return {
        "Name": name,
        "Id": user_id,
        "Assets": [],
        "Issues": [],
        "UnIssues": [],
        "Token": 0,
        "Identity": identity_id,
        "Deleted": False,
        "Registered": timestamp_ms,
    }


def new_asset(name: str, asset_id: str, metadata: str, value: int, issuer_id: str, timestamp_ms: int, digest: str) -> Record:
    """A freshly published asset: on sale, with its issuer and enrollment time kept as evidence."""
    return {
        "Name": name,
        "Id": asset_id,
        "Metadata": metadata,
        "IsValid": True,
        "Value": value,
        "IssuerId": issuer_id,
        "Enrolled": timestamp_ms,
        "ContentHash": digest,
    }


def enroll_entry(asset_id: str, issuer_id: str, tx_id: str, timestamp_ms: int) -> Record:
    return {
        "AssetId": asset_id,
        "OriginalOwnerId": FIRST_ISSUE_TAG,
        "CurrentOwnerId": issuer_id,
        "Type": ENROLL,
        "TxId": tx_id,
        "Timestamp": timestamp_ms,
    }


def exchange_entry(asset_id: str, seller_id: str, buyer_id: str, mode: str, value: int, tx_id: str, timestamp_ms: int) -> Record:
    return {
        "AssetId": asset_id,
        "OriginalOwnerId": seller_id,
        "CurrentOwnerId": buyer_id,
        "Type": EXCHANGE,
        "Mode": mode,
        "Value": value,
        "TxId": tx_id,
        "Timestamp": timestamp_ms,
    }


def credit_entry(amount: int, asset_id: str, buyer_id: str, tx_id: str, timestamp_ms: int) -> Record:
    """A pending payment to a publisher: Amount tokens for a copy of asset_id bought by buyer_id."""
    return {"Amount": amount, "AssetId": asset_id, "BuyerId": buyer_id, "TxId": tx_id, "Timestamp": timestamp_ms}


def without(items: list[str], item: str) -> list[str]:
    return [x for x in items if x != item]
