"""A plain reference model of the power-data contract, so a test can compare the real ledger against it.

Written separately from `contract.py` (no shared logic, only the code table and limits from
`errors.py`), over plain Python objects with no ledger, no JSON state and no signatures:
a "party" is just a label, and an account is bound to the label that registered it.
`PowerDataModel.call` returns (True, result) or (False, code), in the same check order as
the contract (see `errors.py`). Time is a counter: one tick per call.

Balances are plain numbers: `token` is the whole balance (what queryUser reports). `pending`
is the part of it received as a publisher's sales and not yet folded into the contract's
stored record; it matters only for the one check that cannot see it: a copy sale's
BALANCE_LIMIT check on the publisher. It is folded (reset to 0) whenever the contract writes
that user's record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaincode.power_data.errors import (
    AMOUNT_DIGITS_MAX,
    AMOUNT_MAX,
    BALANCE_MAX,
    FIRST_ISSUE_TAG,
    ID_LENGTH_MAX,
    METADATA_BYTES_MAX,
    NAME_LENGTH_MAX,
    Code,
)

ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
HEX = frozenset("0123456789abcdefABCDEF")


class Refused(Exception):
    def __init__(self, code: Code) -> None:
        self.code = code


@dataclass
class User:
    name: str
    id: str
    party: str
    assets: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    unissues: list[str] = field(default_factory=list)
    token: int = 0
    deleted: bool = False
    pending: int = 0  # part of token paid by copy sales, not yet folded into the stored record


@dataclass
class Asset:
    name: str
    id: str
    value: int
    issuer: str
    enrolled: int
    digest: str
    valid: bool = True


def _fail(code: Code) -> Refused:
    return Refused(code)


def _id(text: str) -> str:
    ok = 0 < len(text) <= ID_LENGTH_MAX and set(text) <= ID_CHARS and text != FIRST_ISSUE_TAG
    if not ok:
        raise _fail(Code.INVALID_ID)
    return text


def _name(text: str) -> str:
    if len(text) == 0 or len(text) > NAME_LENGTH_MAX or text.strip() == "" or not text.isprintable():
        raise _fail(Code.INVALID_NAME)
    return text


def _number(text: str, lowest: int, code: Code) -> int:
    if not text or not text.isascii() or not text.isdigit() or len(text) > AMOUNT_DIGITS_MAX or not lowest <= int(text) <= AMOUNT_MAX:
        raise _fail(code)
    return int(text)


def _digest(metadata: str) -> str:
    data = metadata.encode("utf-8")
    if not data or len(data) > METADATA_BYTES_MAX:
        raise _fail(Code.INVALID_METADATA)
    try:
        obj = json.loads(metadata)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and "sha256" in obj:
        named = obj["sha256"]
        if not (isinstance(named, str) and len(named) == 64 and set(named) <= HEX):
            raise _fail(Code.INVALID_METADATA)
        return named.lower()
    return hashlib.sha256(data).hexdigest()


class PowerDataModel:
    """The contract's behaviour over dicts: users, assets, history, content-hash index."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.assets: dict[str, Asset] = {}
        self.history: dict[str, list[tuple[str, str, str]]] = {}  # (Type, OriginalOwnerId, CurrentOwnerId)
        self.first_by_digest: dict[str, str] = {}
        self.clock = 0
        self.topped_up = 0

    def call(self, function: str, args: tuple[str, ...] | list[str], parties: tuple[str, ...] | list[str] = (), *, approved: bool = True) -> tuple[bool, Any]:
        """(True, result) or (False, code) for one call signed by `parties` (and an admin if approved)."""
        self.clock += 1
        handlers: dict[str, tuple[int, bool, Callable[..., Any]]] = {
            "userRegister": (2, True, self.register), "userTopup": (2, True, self.topup),
            "deleteUser": (1, True, self.delete), "assetsEnroll": (5, True, self.enroll),
            "assetsExchange": (3, True, self.exchange), "assetsCancel": (2, True, self.cancel),
            "assetsReport": (3, True, self.report), "queryUser": (1, False, self.query_user),
            "queryAsset": (1, False, self.query_asset), "assetsExchangeHistory": (2, False, self.history_of),
        }
        if function not in handlers:
            return False, Code.UNKNOWN_FUNCTION
        arity, writes, handler = handlers[function]
        try:
            if len(args) != arity:
                raise _fail(Code.BAD_ARGUMENTS)
            if writes and not approved:
                raise _fail(Code.MISSING_ADMIN_APPROVAL)
            return True, handler(tuple(parties), *args)
        except Refused as refused:
            return False, refused.code

    # --- lookups --------------------------------------------------------------------------

    def _user(self, user_id: str, closed_ok: bool = False) -> User:
        if user_id not in self.users:
            raise _fail(Code.USER_NOT_FOUND)
        user = self.users[user_id]
        if user.deleted and not closed_ok:
            raise _fail(Code.USER_DELETED)
        return user

    def _asset(self, asset_id: str) -> Asset:
        if asset_id not in self.assets:
            raise _fail(Code.ASSET_NOT_FOUND)
        return self.assets[asset_id]

    @staticmethod
    def _signed(user: User, parties: tuple[str, ...]) -> None:
        if user.party not in parties:
            raise _fail(Code.NOT_AUTHORIZED)

    # --- the functions ----------------------------------------------------------------------

    def register(self, parties: tuple[str, ...], name: str, user_id: str) -> User:
        _name(name)
        _id(user_id)
        if user_id in self.users:
            raise _fail(Code.USER_EXISTS)
        if len(parties) != 1:
            raise _fail(Code.NOT_AUTHORIZED)
        self.users[user_id] = User(name, user_id, parties[0])
        return self.users[user_id]

    def topup(self, parties: tuple[str, ...], user_id: str, token: str) -> User:
        _id(user_id)
        amount = _number(token, 1, Code.INVALID_AMOUNT)
        user = self._user(user_id)
        self._signed(user, parties)
        if user.token + amount > BALANCE_MAX:
            raise _fail(Code.BALANCE_LIMIT)
        user.token += amount
        user.pending = 0
        self.topped_up += amount
        return user

    def delete(self, parties: tuple[str, ...], user_id: str) -> User:
        _id(user_id)
        user = self._user(user_id)
        self._signed(user, parties)
        for asset_id in user.issues:
            self.assets[asset_id].valid = False
        user.unissues.extend(user.issues)
        user.issues = []
        user.deleted = True
        user.pending = 0
        return user

    def enroll(self, parties: tuple[str, ...], name: str, asset_id: str, metadata: str, owner_id: str, value: str) -> Asset:
        _name(name)
        _id(asset_id)
        digest = _digest(metadata)
        _id(owner_id)
        price = _number(value, 0, Code.INVALID_VALUE)
        if asset_id in self.assets:
            raise _fail(Code.ASSET_EXISTS)
        owner = self._user(owner_id)
        self._signed(owner, parties)
        first = self.first_by_digest.get(digest)
        if first is not None and self.assets[first].issuer != owner_id:
            raise _fail(Code.DUPLICATE_CONTENT)
        self.first_by_digest.setdefault(digest, asset_id)
        self.assets[asset_id] = Asset(name, asset_id, price, owner_id, self.clock, digest)
        owner.issues.append(asset_id)
        owner.pending = 0
        self.history[asset_id] = [("enroll", FIRST_ISSUE_TAG, owner_id)]
        return self.assets[asset_id]

    def exchange(self, parties: tuple[str, ...], asset_id: str, seller_id: str, buyer_id: str) -> str:
        for text in (asset_id, seller_id, buyer_id):
            _id(text)
        asset = self._asset(asset_id)
        seller, buyer = self._user(seller_id), self._user(buyer_id)
        if seller is buyer:
            raise _fail(Code.SAME_USER)
        self._signed(buyer, parties)
        if not asset.valid:
            raise _fail(Code.ASSET_NOT_ON_SALE)
        if asset.issuer == buyer_id:
            raise _fail(Code.BUYER_IS_ISSUER)
        if asset_id in buyer.assets:
            raise _fail(Code.ALREADY_HOLDS)
        copy = asset_id in seller.issues
        if not copy and asset_id not in seller.assets:
            raise _fail(Code.SELLER_DOES_NOT_HOLD)
        if not copy and seller.party not in parties:
            raise _fail(Code.MISSING_CONSENT)
        if buyer.token < asset.value:
            raise _fail(Code.INSUFFICIENT_BALANCE)
        seller_stored = seller.token - seller.pending if copy else seller.token
        if seller_stored + asset.value > BALANCE_MAX:
            raise _fail(Code.BALANCE_LIMIT)
        buyer.token -= asset.value
        buyer.pending = 0
        seller.token += asset.value
        buyer.assets.append(asset_id)
        if copy:
            seller.pending += asset.value
        else:
            seller.assets.remove(asset_id)
            seller.pending = 0
        self.history[asset_id].append(("exchange", seller_id, buyer_id))
        return "copy" if copy else "transfer"

    def cancel(self, parties: tuple[str, ...], asset_id: str, issuer_id: str) -> Asset:
        _id(asset_id)
        _id(issuer_id)
        asset = self._asset(asset_id)
        issuer = self._user(issuer_id)
        self._signed(issuer, parties)
        if asset.issuer != issuer_id:
            raise _fail(Code.NOT_ISSUER)
        if not asset.valid:
            raise _fail(Code.ASSET_NOT_ON_SALE)
        self._take_off_sale(asset)
        return asset

    def report(self, parties: tuple[str, ...], original_id: str, copy_id: str, reporter_id: str) -> Asset:
        for text in (original_id, copy_id, reporter_id):
            _id(text)
        original, copy = self._asset(original_id), self._asset(copy_id)
        reporter = self._user(reporter_id)
        self._signed(reporter, parties)
        if original.issuer != reporter_id:
            raise _fail(Code.NOT_ISSUER)
        if not copy.valid:
            raise _fail(Code.ASSET_NOT_ON_SALE)
        bought = any(t == "exchange" and cur == copy.issuer for t, _, cur in self.history[original_id])
        upheld = copy.issuer != reporter_id and original.enrolled < copy.enrolled and bought
        if not upheld:
            raise _fail(Code.REPORT_NOT_UPHELD)
        self._take_off_sale(copy)
        return copy

    def _take_off_sale(self, asset: Asset) -> None:
        issuer = self.users[asset.issuer]
        asset.valid = False
        issuer.issues.remove(asset.id)
        issuer.unissues.append(asset.id)
        issuer.pending = 0

    def query_user(self, parties: tuple[str, ...], user_id: str) -> User:
        return self._user(_id(user_id), closed_ok=True)

    def query_asset(self, parties: tuple[str, ...], asset_id: str) -> Asset:
        return self._asset(_id(asset_id))

    def history_of(self, parties: tuple[str, ...], asset_id: str, query_type: str) -> list[tuple[str, str, str]]:
        _id(asset_id)
        if query_type not in ("enroll", "exchange", "all"):
            raise _fail(Code.INVALID_QUERY_TYPE)
        entries = self.history[self._asset(asset_id).id]
        return [e for e in entries if query_type in ("all", e[0])]

    def balances(self) -> dict[str, int]:
        return {user_id: user.token for user_id, user in self.users.items()}
