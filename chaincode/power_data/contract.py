"""The power-data asset contract (SPEC section 3): the seed's nine functions, plus report and listing.

Every state-changing function first needs an approval signoff from an administrator of
`approver_org` (supervision, SPEC 3.1) and a party signoff from the identity bound to the
acting user. All checks run before the first write, and no key is read after it is written
(reads see committed state only, as in Fabric). Check order: see `errors.py`.

Balances (see `records.py`): a purchase from a publisher credits the publisher by a blind
write of `credit/<publisherId>/<tx_id>` and only reads the publisher's record, so purchases
from one publisher never conflict with each other. Every write of a user record goes through
`_save_user`, after `checks.fold_credits` has added the user's pending credits to Token;
queryUser reports Token with the pending credits included, so clients see one balance.
"""

from __future__ import annotations

from typing import Any

from chaincode.power_data import checks
from chaincode.power_data.errors import BALANCE_MAX, HISTORY_ENTRIES_MAX, LIST_ASSETS_MAX, Code
from chaincode.power_data.records import (
    ASSET_PREFIX,
    EXCHANGE,
    MODE_COPY,
    MODE_TRANSFER,
    Record,
    asset_key,
    content_hash_key,
    credit_entry,
    credit_key,
    enroll_entry,
    exchange_entry,
    history_key,
    history_prefix,
    new_asset,
    new_user,
    user_key,
    without,
)
from chaincode.shim import Contract, FunctionSpec, Stub, prefix_range, query, refuse, transaction


class PowerDataContract(Contract):
    """Users, priced power datasets, purchases from publishers and transfers between holders."""

    def __init__(self, approver_org: str = "Regulator") -> None:
        self.approver_org = approver_org

    def check_transaction(self, stub: Stub, spec: FunctionSpec) -> None:
        checks.require_admin_approval(stub, self.approver_org)

    # --- users --------------------------------------------------------------------------

    @transaction("userRegister", "userName", "userId")
    def user_register(self, stub: Stub, user_name: str, user_id: str) -> Record:
        """Open an account bound to the one identity that signed the request as a party."""
        checks.check_name(user_name, "userName")
        checks.check_id(user_id, "userId")
        if stub.get_json(user_key(user_id)) is not None:
            raise refuse(Code.USER_EXISTS, f"the user id {user_id!r} is taken (ids of closed accounts are never reused); choose another")
        parties = stub.party_ids()
        if len(parties) != 1:
            raise refuse(Code.NOT_AUTHORIZED, f"a registration must be signed by exactly one party, the account's owner; it has {len(parties)}")
        user = new_user(user_name, user_id, parties[0], stub.timestamp_ms)
        stub.put_json(user_key(user_id), user)
        stub.set_event("userRegister", {"userId": user_id, "identity": parties[0]})
        return user

    @transaction("userTopup", "userId", "Token")
    def user_topup(self, stub: Stub, user_id: str, token: str) -> Record:
        """Add tokens to a user's balance (the only way tokens enter the ledger)."""
        checks.check_id(user_id, "userId")
        amount = checks.check_amount(token)
        user = checks.existing_user(stub, user_id)
        checks.require_signed(stub, user)
        folded = checks.fold_credits(stub, user)
        if user["Token"] + amount > BALANCE_MAX:
            raise refuse(Code.BALANCE_LIMIT, f"the balance of {user_id!r} would exceed {BALANCE_MAX}; top up less")
        user["Token"] += amount
        _save_user(stub, user, folded)
        stub.set_event("userTopup", {"userId": user_id, "Token": amount})
        return user

    @transaction("deleteUser", "userId")
    def delete_user(self, stub: Stub, user_id: str) -> dict[str, Any]:
        """Close an account: everything it has on sale is cancelled; copies others bought stay theirs."""
        checks.check_id(user_id, "userId")
        user = checks.existing_user(stub, user_id)
        checks.require_signed(stub, user)
        folded = checks.fold_credits(stub, user)
        cancelled = list(user["Issues"])
        for asset_id in cancelled:
            asset = checks.existing_asset(stub, asset_id)
            asset["IsValid"] = False
            stub.put_json(asset_key(asset_id), asset)
        user["UnIssues"] = user["UnIssues"] + cancelled
        user["Issues"] = []
        user["Deleted"] = True
        _save_user(stub, user, folded)
        stub.set_event("deleteUser", {"userId": user_id, "cancelled": cancelled})
        return {"User": user, "Cancelled": cancelled}

    @query("queryUser", "userId")
    def query_user(self, stub: Stub, user_id: str) -> Record:
        """Current state of a user (closed accounts stay readable, with Deleted = true); Token includes pending credits."""
        checks.check_id(user_id, "userId")
        user = checks.existing_user(stub, user_id, allow_deleted=True)
        checks.fold_credits(stub, user)
        return user

    # --- assets -------------------------------------------------------------------------

    @transaction("assetsEnroll", "assetName", "assetId", "metadata", "ownerId", "value")
    def assets_enroll(self, stub: Stub, asset_name: str, asset_id: str, metadata: str, owner_id: str, value: str) -> Record:
        """Publish a dataset for sale; refuses content someone else already enrolled (re-publishing)."""
        checks.check_name(asset_name, "assetName")
        checks.check_id(asset_id, "assetId")
        digest = checks.check_metadata(metadata)
        checks.check_id(owner_id, "ownerId")
        price = checks.check_value(value)
        if stub.get_json(asset_key(asset_id)) is not None:
            raise refuse(Code.ASSET_EXISTS, f"an asset with id {asset_id!r} is already enrolled; choose another id")
        owner = checks.existing_user(stub, owner_id)
        checks.require_signed(stub, owner)
        first_id = stub.get_text(content_hash_key(digest))
        if first_id is not None:
            first = checks.existing_asset(stub, first_id)
            if first["IssuerId"] != owner_id:
                held = " which you bought" if first_id in owner["Assets"] else ""
                raise refuse(Code.DUPLICATE_CONTENT, f"this content (sha256 {digest}) was already enrolled by {first['IssuerId']!r} as {first_id!r}{held}; only its issuer may publish it")
        folded = checks.fold_credits(stub, owner)
        asset = new_asset(asset_name, asset_id, metadata, price, owner_id, stub.timestamp_ms, digest)
        owner["Issues"] = owner["Issues"] + [asset_id]
        stub.put_json(asset_key(asset_id), asset)
        _save_user(stub, owner, folded)
        if first_id is None:
            stub.put_text(content_hash_key(digest), asset_id)
        stub.put_json(history_key(asset_id, stub.timestamp_ms, stub.tx_id), enroll_entry(asset_id, owner_id, stub.tx_id, stub.timestamp_ms))
        stub.set_event("assetsEnroll", {"assetId": asset_id, "ownerId": owner_id, "ContentHash": digest})
        return asset

    @transaction("assetsExchange", "assetId", "originOwnerId", "currentOwnerId")
    def assets_exchange(self, stub: Stub, asset_id: str, origin_owner_id: str, current_owner_id: str) -> dict[str, Any]:
        """Sell an asset for its Value: a copy when the seller published it, a transfer when the seller holds it.

        | asset is in the seller's | buyer gets       | seller keeps it | signatures needed |
        |--------------------------|------------------|-----------------|-------------------|
        | Issues (published)       | a copy (Assets)  | yes, on sale    | buyer             |
        | Assets (held)            | it (Assets)      | no              | buyer and seller  |
        | neither                  | SELLER_DOES_NOT_HOLD                                   |
        A cancelled asset (IsValid false) is refused for both: its issuer withdrew it.

        A copy reads the asset and the publisher's record but writes neither: the publisher is
        paid by a new credit key (so its BALANCE_LIMIT check sees its record's Token, not its
        pending credits). The buyer's pending credits count toward what it can spend.
        """
        for value, what in ((asset_id, "assetId"), (origin_owner_id, "originOwnerId"), (current_owner_id, "currentOwnerId")):
            checks.check_id(value, what)
        asset = checks.existing_asset(stub, asset_id)
        seller = checks.existing_user(stub, origin_owner_id)
        buyer = checks.existing_user(stub, current_owner_id)
        if origin_owner_id == current_owner_id:
            raise refuse(Code.SAME_USER, "the buyer and the seller are the same user")
        checks.require_signed(stub, buyer)
        mode = self._exchange_mode(stub, asset, seller, buyer)
        price = asset["Value"]
        buyer_folded = checks.fold_credits(stub, buyer)
        seller_folded = checks.fold_credits(stub, seller) if mode == MODE_TRANSFER else []
        if buyer["Token"] < price:
            raise refuse(Code.INSUFFICIENT_BALANCE, f"{current_owner_id!r} has {buyer['Token']} tokens but {asset_id!r} costs {price}; top up first")
        if seller["Token"] + price > BALANCE_MAX:
            raise refuse(Code.BALANCE_LIMIT, f"the balance of {origin_owner_id!r} would exceed {BALANCE_MAX}")
        buyer["Token"] -= price
        buyer["Assets"] = buyer["Assets"] + [asset_id]
        entry = exchange_entry(asset_id, origin_owner_id, current_owner_id, mode, price, stub.tx_id, stub.timestamp_ms)
        result: dict[str, Any] = {"Mode": mode, "Asset": asset, "Buyer": buyer, "History": entry}
        if mode == MODE_TRANSFER:
            seller["Token"] += price
            seller["Assets"] = without(seller["Assets"], asset_id)
            _save_user(stub, seller, seller_folded)
            result["Seller"] = seller
        else:
            credit = credit_entry(price, asset_id, current_owner_id, stub.tx_id, stub.timestamp_ms)
            stub.put_json(credit_key(origin_owner_id, stub.tx_id), credit)
            # the publisher's record as read; its Token leaves out its pending credits, so it is not shown
            result["Seller"] = {k: v for k, v in seller.items() if k != "Token"}
            result["Credit"] = credit
        _save_user(stub, buyer, buyer_folded)
        stub.put_json(history_key(asset_id, stub.timestamp_ms, stub.tx_id), entry)
        stub.set_event("assetsExchange", {"assetId": asset_id, "from": origin_owner_id, "to": current_owner_id, "mode": mode, "Value": price})
        return result

    @staticmethod
    def _exchange_mode(stub: Stub, asset: Record, seller: Record, buyer: Record) -> str:
        """Which kind of exchange this is, refusing what may not be sold (see the table above)."""
        asset_id = asset["Id"]
        if not asset["IsValid"]:
            raise refuse(Code.ASSET_NOT_ON_SALE, f"{asset_id!r} was cancelled by its issuer and can no longer be bought")
        if asset["IssuerId"] == buyer["Id"]:
            raise refuse(Code.BUYER_IS_ISSUER, f"{buyer['Id']!r} published {asset_id!r} and cannot buy it")
        if asset_id in buyer["Assets"]:
            raise refuse(Code.ALREADY_HOLDS, f"{buyer['Id']!r} already holds {asset_id!r}")
        if asset_id in seller["Issues"]:
            return MODE_COPY
        if asset_id not in seller["Assets"]:
            raise refuse(Code.SELLER_DOES_NOT_HOLD, f"{seller['Id']!r} neither publishes nor holds {asset_id!r}")
        if not checks.signed_by(stub, seller):
            raise refuse(Code.MISSING_CONSENT, f"a transfer between holders needs the seller's signed offer: {seller['Identity']} must sign too")
        return MODE_TRANSFER

    @transaction("assetsCancel", "assetId", "issuerId")
    def assets_cancel(self, stub: Stub, asset_id: str, issuer_id: str) -> dict[str, Any]:
        """Withdraw a published asset from sale; those who hold it keep it."""
        checks.check_id(asset_id, "assetId")
        checks.check_id(issuer_id, "issuerId")
        asset = checks.existing_asset(stub, asset_id)
        issuer = checks.existing_user(stub, issuer_id)
        checks.require_signed(stub, issuer)
        if asset["IssuerId"] != issuer_id:
            raise refuse(Code.NOT_ISSUER, f"only {asset['IssuerId']!r}, who published {asset_id!r}, may cancel it")
        if not asset["IsValid"]:
            raise refuse(Code.ASSET_NOT_ON_SALE, f"{asset_id!r} is already cancelled")
        _cancel(stub, asset, issuer)
        stub.set_event("assetsCancel", {"assetId": asset_id, "issuerId": issuer_id})
        return {"Asset": asset, "User": issuer}

    @transaction("assetsReport", "originalAssetId", "copyAssetId", "reporterId")
    def assets_report(self, stub: Stub, original_asset_id: str, copy_asset_id: str, reporter_id: str) -> dict[str, Any]:
        """A publisher reports a buyer's re-publication of its data; an upheld report cancels the copy.

        Upheld when the reporter issued the original, the original was enrolled strictly
        before the copy (ledger timestamps), and the copy's issuer holds or once held the
        original (the original's exchange history names it as a buyer).
        """
        for value, what in ((original_asset_id, "originalAssetId"), (copy_asset_id, "copyAssetId"), (reporter_id, "reporterId")):
            checks.check_id(value, what)
        original = checks.existing_asset(stub, original_asset_id)
        copy = checks.existing_asset(stub, copy_asset_id)
        reporter = checks.existing_user(stub, reporter_id)
        checks.require_signed(stub, reporter)
        if original["IssuerId"] != reporter_id:
            raise refuse(Code.NOT_ISSUER, f"only {original['IssuerId']!r}, who published {original_asset_id!r}, may report copies of it")
        if not copy["IsValid"]:
            raise refuse(Code.ASSET_NOT_ON_SALE, f"{copy_asset_id!r} is not on sale any more")
        accused_id = copy["IssuerId"]
        reason = self._report_flaw(stub, original, copy, reporter_id)
        if reason:
            raise refuse(Code.REPORT_NOT_UPHELD, f"the report is not upheld: {reason}")
        accused = checks.existing_user(stub, accused_id, allow_deleted=True)
        report = {"OriginalAssetId": original_asset_id, "ReporterId": reporter_id, "AccusedId": accused_id, "TxId": stub.tx_id, "Timestamp": stub.timestamp_ms}
        copy["Report"] = report
        _cancel(stub, copy, accused)
        stub.set_event("assetsReport", report | {"CopyAssetId": copy_asset_id})
        return {"Report": report, "Asset": copy, "User": accused}

    @staticmethod
    def _report_flaw(stub: Stub, original: Record, copy: Record, reporter_id: str) -> str:
        """Why a report does not hold ("" when it is upheld)."""
        accused_id = copy["IssuerId"]
        if original["Id"] == copy["Id"] or accused_id == reporter_id:
            return "a publisher cannot report its own asset"
        if not original["Enrolled"] < copy["Enrolled"]:
            return f"{original['Id']!r} was not enrolled before {copy['Id']!r}"
        entries = stub.prefix_json(history_prefix(original["Id"]), HISTORY_ENTRIES_MAX)
        if not any(e["Type"] == EXCHANGE and e["CurrentOwnerId"] == accused_id for _, e in entries):
            return f"{accused_id!r} never held {original['Id']!r}"
        return ""

    @query("queryAsset", "assetId")
    def query_asset(self, stub: Stub, asset_id: str) -> Record:
        """Current state of an asset."""
        checks.check_id(asset_id, "assetId")
        return checks.existing_asset(stub, asset_id)

    @query("assetsExchangeHistory", "assetId", "queryType")
    def assets_exchange_history(self, stub: Stub, asset_id: str, query_type: str) -> list[Record]:
        """Provenance of an asset, oldest first: its enrollment, its exchanges, or all."""
        checks.check_id(asset_id, "assetId")
        checks.check_query_type(query_type)
        checks.existing_asset(stub, asset_id)
        entries = [e for _, e in stub.prefix_json(history_prefix(asset_id), HISTORY_ENTRIES_MAX)]
        return entries if query_type == "all" else [e for e in entries if e["Type"] == query_type]

    @query("listAssets", "onSaleOnly", "startAfter")
    def list_assets(self, stub: Stub, on_sale_only: str, start_after: str) -> dict[str, Any]:
        """One page (at most LIST_ASSETS_MAX) of assets in id order, for the marketplace.

        onSaleOnly is "true" or "false"; startAfter is "" or the `Next` of the previous page.
        """
        if on_sale_only not in ("true", "false"):
            raise refuse(Code.BAD_ARGUMENTS, f"onSaleOnly must be 'true' or 'false', got {on_sale_only!r}")
        if start_after:
            checks.check_id(start_after, "startAfter")
        start, end = prefix_range(ASSET_PREFIX)
        if start_after:
            start = asset_key(start_after) + "\x00"
        page = stub.range_json(start, end, LIST_ASSETS_MAX)
        assets = [a for _, a in page if on_sale_only == "false" or a["IsValid"]]
        following = page[-1][1]["Id"] if len(page) == LIST_ASSETS_MAX else ""
        return {"Assets": assets, "Next": following}


def _cancel(stub: Stub, asset: Record, issuer: Record) -> None:
    """Take an asset off sale: IsValid false, moved from the issuer's Issues to UnIssues."""
    folded = checks.fold_credits(stub, issuer)
    asset["IsValid"] = False
    issuer["Issues"] = without(issuer["Issues"], asset["Id"])
    issuer["UnIssues"] = issuer["UnIssues"] + [asset["Id"]]
    stub.put_json(asset_key(asset["Id"]), asset)
    _save_user(stub, issuer, folded)


def _save_user(stub: Stub, user: Record, folded: list[str]) -> None:
    """Write a user record whose Token already includes the credits `folded` (from checks.fold_credits), and delete them."""
    for key in folded:
        stub.delete(key)
    stub.put_json(user_key(user["Id"]), user)
