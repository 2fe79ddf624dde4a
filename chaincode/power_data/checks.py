"""The contract's checks: each validates one argument or one fact and refuses with a code, writing nothing."""

from __future__ import annotations

import re

from chaincode.power_data.errors import (
    AMOUNT_DIGITS_MAX,
    AMOUNT_MAX,
    FIRST_ISSUE_TAG,
    ID_PATTERN,
    METADATA_BYTES_MAX,
    NAME_LENGTH_MAX,
    PENDING_CREDITS_MAX,
    QUERY_TYPES,
    Code,
)
from chaincode.power_data.records import Record, asset_key, content_hash, credit_prefix, user_key
from chaincode.shim import Stub, refuse

_ID = re.compile(ID_PATTERN)
_DIGITS = re.compile(f"[0-9]{{1,{AMOUNT_DIGITS_MAX}}}")


def check_name(name: str, what: str) -> str:
    """A display name: 1..NAME_LENGTH_MAX printable characters, not only spaces."""
    if not name.strip() or len(name) > NAME_LENGTH_MAX or not name.isprintable():
        raise refuse(Code.INVALID_NAME, f"{what} must be 1 to {NAME_LENGTH_MAX} printable characters, not blank")
    return name


def check_id(value: str, what: str) -> str:
    """An id: 1..64 of [A-Za-z0-9_.-], and never the history's first-issue tag."""
    if not _ID.fullmatch(value) or value == FIRST_ISSUE_TAG:
        raise refuse(Code.INVALID_ID, f"{what} {value!r} must be 1 to 64 characters of A-Z a-z 0-9 _ . - (and not {FIRST_ISSUE_TAG!r})")
    return value


def check_amount(text: str) -> int:
    """A top-up amount: a whole number in 1..AMOUNT_MAX."""
    amount = int(text) if _DIGITS.fullmatch(text) else -1
    if not 0 < amount <= AMOUNT_MAX:
        raise refuse(Code.INVALID_AMOUNT, f"Token must be a whole number from 1 to {AMOUNT_MAX}, got {text!r}")
    return amount


def check_value(text: str) -> int:
    """An asset price: a whole number in 0..AMOUNT_MAX."""
    value = int(text) if _DIGITS.fullmatch(text) else -1
    if not 0 <= value <= AMOUNT_MAX:
        raise refuse(Code.INVALID_VALUE, f"value must be a whole number from 0 to {AMOUNT_MAX}, got {text!r}")
    return value


def check_metadata(metadata: str) -> str:
    """Returns the content hash; refuses empty or over-long metadata and a malformed `sha256` field."""
    size = len(metadata.encode("utf-8"))
    digest = content_hash(metadata) if 0 < size <= METADATA_BYTES_MAX else None
    if digest is None:
        raise refuse(
            Code.INVALID_METADATA,
            f"metadata must be 1 to {METADATA_BYTES_MAX} bytes; a JSON object's sha256 field must be 64 hex characters",
        )
    return digest


def check_query_type(query_type: str) -> str:
    if query_type not in QUERY_TYPES:
        raise refuse(Code.INVALID_QUERY_TYPE, f"queryType must be one of {', '.join(QUERY_TYPES)}, got {query_type!r}")
    return query_type


def existing_user(stub: Stub, user_id: str, *, allow_deleted: bool = False) -> Record:
    """The user's record; refuses an unknown id and (unless allowed) a closed account."""
    user: Record | None = stub.get_json(user_key(user_id))
    if user is None:
        raise refuse(Code.USER_NOT_FOUND, f"no user {user_id!r} is registered; register it first")
    if user["Deleted"] and not allow_deleted:
        raise refuse(Code.USER_DELETED, f"the account {user_id!r} is closed and cannot take part in transactions")
    return user


def fold_credits(stub: Stub, user: Record) -> list[str]:
    """Add the user's pending credits to its Token (in the dict only); returns their keys, to delete on write.

    A range scan of `credit/<id>/` (phantom-checked at validation): call it only for a user whose
    record this transaction writes, or in a query.
    """
    credits = stub.prefix_json(credit_prefix(user["Id"]), PENDING_CREDITS_MAX)
    user["Token"] += sum(credit["Amount"] for _, credit in credits)
    return [key for key, _ in credits]


def existing_asset(stub: Stub, asset_id: str) -> Record:
    asset: Record | None = stub.get_json(asset_key(asset_id))
    if asset is None:
        raise refuse(Code.ASSET_NOT_FOUND, f"no asset {asset_id!r} is enrolled")
    return asset


def signed_by(stub: Stub, user: Record) -> bool:
    return user["Identity"] in stub.party_ids()


def require_signed(stub: Stub, user: Record) -> None:
    """The acting user's bound identity must have signed this transaction as a party."""
    if not signed_by(stub, user):
        raise refuse(Code.NOT_AUTHORIZED, f"this request acts for user {user['Id']!r}, so {user['Identity']} must sign it")


def require_admin_approval(stub: Stub, approver_org: str) -> None:
    """Supervision: an administrator of the approver organization must have approved this request."""
    if not any(i.org == approver_org and i.role == "admin" for i in stub.approvals()):
        raise refuse(Code.MISSING_ADMIN_APPROVAL, f"every state-changing request needs an approval signed by a {approver_org} administrator; submit it for review")
