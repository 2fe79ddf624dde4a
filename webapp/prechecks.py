"""Refusals already certain when a request is made: told at once, never queued for review.

The contract checks everything again when the request is approved; these mirror only the
refusals that nothing can undo before then, so a request that can only fail does not wait in
the administrators' queue (and its requester does not wait for a verdict known in advance):

- an asset id, once enrolled, stays taken (assets are never removed): ASSET_EXISTS;
- an asset's issuer never changes: NOT_ISSUER (cancel, report), BUYER_IS_ISSUER;
- a cancelled asset never goes back on sale: ASSET_NOT_ON_SALE (cancel, report, exchange).

What can still change before approval (a balance, who holds a copy, an account's opening)
is left to the review's dry run. Codes are the contract's (`chaincode.power_data.errors`),
so a refusal has the same code whether it is told here or by the ledger.
"""

from __future__ import annotations

from typing import Any

from webapp.errors import Conflict, Forbidden


def require_new_asset_id(asset: dict[str, Any] | None, asset_id: str) -> None:
    """`asset` is the ledger's record under `asset_id` (None when there is none)."""
    if asset is not None:
        raise Conflict("ASSET_EXISTS", f"An asset with id {asset_id!r} is already enrolled; choose another id.")


def require_issuer(asset: dict[str, Any], user_id: str, action: str) -> None:
    """Only the asset's publisher may `action` ("cancel it", "report copies of it")."""
    issuer = asset.get("IssuerId")
    if issuer != user_id:
        raise Forbidden("NOT_ISSUER", f"Only {issuer!r}, who published {asset.get('Id')!r}, may {action}.")


def require_on_sale(asset: dict[str, Any], so: str) -> None:
    """An asset cancelled (by its issuer, its issuer's account closing or an upheld report);
    `so` says what follows for the request ("it can no longer be bought")."""
    if not asset.get("IsValid"):
        raise Conflict("ASSET_NOT_ON_SALE", f"Asset {asset.get('Id')!r} is no longer on sale, so {so}.")


def require_not_issuer(asset: dict[str, Any], buyer_id: str) -> None:
    """The publisher of an asset cannot buy it, not even a copy someone else holds."""
    if asset.get("IssuerId") == buyer_id:
        raise Conflict("BUYER_IS_ISSUER", f"{buyer_id!r} published {asset.get('Id')!r} and cannot buy it.")
