"""Requests: what users ask for, signed by them, waiting for review.

A request holds the invocation with its nonce (so its transaction id is fixed when it is
made) and the party signoffs. A transfer between holders needs both parties: whoever
starts it signs, it waits in AWAITING_ACCEPTANCE until the other party signs too, and only
then enters the review queue (PENDING).
"""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from chaincode.power_data.errors import FIRST_ISSUE_TAG
from ledger.core.identity import SigningIdentity
from webapp.accounts import check_display_name, check_username
from webapp.chain import Chain, decode_signoffs, encode_invocation, encode_signoffs
from webapp.datasets import parse_metadata
from webapp.db import AuditEntry, ConsoleUser, ReviewRequest, now_s, session
from webapp.dryrun import DryRun, dry_run_accepting
from webapp.errors import BadInput, Conflict, Forbidden, NotFound
from webapp.market_index import MarketIndex
from webapp.prechecks import require_issuer, require_new_asset_id, require_not_issuer, require_on_sale
from webapp.publish_review import enroll_args, refused_before
from webapp.retries import countersign_spares, make_spares
from webapp.sessions import UserSession
from webapp.settings import NAME_LENGTH_MAX, TOKEN_AMOUNT_MAX, Settings

log = structlog.get_logger("webapp.workflow")

ASSET_ID_MAX = 64
REQUESTS_LISTED_MAX = 500


class Status(StrEnum):
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # a transfer waits for the other party's signature
    PENDING = "pending"  # in the review queue
    APPROVED = "approved"  # approved, being endorsed and ordered
    SUBMITTED = "submitted"  # ordered; its commit is awaited or settled from the ledger by tx id
    COMMITTED = "committed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"


OPEN_STATUSES = (Status.AWAITING_ACCEPTANCE, Status.PENDING)
REQUEST_KINDS = ("register", "topup", "delete", "enroll", "purchase", "transfer", "cancel", "report")
REPEAT_REFUSED_KINDS = ("delete", "enroll", "purchase", "transfer", "cancel", "report")  # of two alike, one can commit


def check_id(value: str, what: str) -> str:
    """The contract's id rule (chaincode checks.check_id), so that an id it would refuse
    INVALID_ID is never queued: ASCII letters and digits only (str.isalnum also takes 'é'), and
    never the history's first-issue tag."""
    value = (value or "").strip()
    if not value or len(value) > ASSET_ID_MAX or not all((c.isascii() and c.isalnum()) or c in "_.-" for c in value):
        raise BadInput("BAD_ID", f"The {what} has 1 to {ASSET_ID_MAX} letters, digits, '.', '_' or '-'.")
    if value == FIRST_ISSUE_TAG:
        raise BadInput("BAD_ID", f"{FIRST_ISSUE_TAG!r} is reserved by the ledger (it marks a first publication); it names no {what.split(' ')[0]}.")
    return value


def check_asset_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > NAME_LENGTH_MAX:
        raise BadInput("BAD_ASSET_NAME", f"An asset name has 1 to {NAME_LENGTH_MAX} characters.")
    return name


def check_amount(value: Any, what: str, *, minimum: int) -> int:
    try:
        amount = int(str(value).strip())
    except (TypeError, ValueError):
        raise BadInput("BAD_AMOUNT", f"The {what} is a whole number.") from None
    if amount < minimum or amount > TOKEN_AMOUNT_MAX:
        raise BadInput("BAD_AMOUNT", f"The {what} is a whole number from {minimum} to {TOKEN_AMOUNT_MAX}.")
    return amount


def require_member(user: UserSession) -> None:
    """Administrators review; their console login is no ledger account (no sign-up can take its
    name), so whatever they asked for could only fail USER_NOT_FOUND when approved."""
    if user.is_admin:
        raise Forbidden("ADMIN_DOES_NOT_TRADE", "Administrators review requests; they hold no ledger account, so they make none.")


def require_self(user: UserSession, user_id: str) -> None:
    require_member(user)
    if user.username != user_id:
        raise Forbidden("NOT_YOUR_ACCOUNT", f"You are logged in as {user.username}; you cannot act for {user_id}.")


class Workflow:
    def __init__(self, engine: Engine, chain: Chain, settings: Settings, index: MarketIndex) -> None:
        self.engine = engine
        self.chain = chain
        self.settings = settings
        self.index = index  # the duplicate-content check reads it
        self.on_created: list[Any] = []  # callbacks(request): auto-approval hooks in

    # --- reading ----------------------------------------------------------------------------
    def get(self, request_id: str) -> ReviewRequest:
        with session(self.engine) as db:
            req = db.get(ReviewRequest, str(request_id))
        if req is None:
            raise NotFound("REQUEST_NOT_FOUND", f"There is no request {request_id!r}.")
        if req.status in OPEN_STATUSES and req.created_at < now_s() - self.settings.request_ttl_s and self.expire_stale():
            return self.get(request_id)  # expired just now: its page and an acceptance see it so
        return req

    def expire_stale(self) -> int:
        """Undecided requests older than `request_ttl_s` become EXPIRED (audited). Run when a
        request is read, listed or decided: before, only the administrators' queue ran it, so
        until one looked at the queue the requester saw "pending" and a counterparty could still
        sign a transfer that could no longer be approved."""
        cutoff = now_s() - self.settings.request_ttl_s
        with session(self.engine) as db:
            stale = list(db.exec(select(ReviewRequest.id).where(col(ReviewRequest.status).in_(OPEN_STATUSES), col(ReviewRequest.created_at) < cutoff)))
        expired = 0
        for request_id in stale:
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(ReviewRequest)
                    .where(col(ReviewRequest.id) == request_id, col(ReviewRequest.status).in_(OPEN_STATUSES))
                    .values(status=Status.EXPIRED, decided_by="system", decided_at=now_s(), reason="not decided in time")
                )
            if result.rowcount == 1:
                expired += 1
                self.audit(request_id, "system", "expired", f"undecided after {self.settings.request_ttl_s} s")
        return expired

    def get_visible(self, user: UserSession, request_id: str) -> ReviewRequest:
        req = self.get(request_id)
        if not user.is_admin and user.username not in (req.requester, req.counterparty):
            raise Forbidden("NOT_YOUR_REQUEST", "Only its requester, its counterparty and administrators see a request.")
        return req

    def for_user(self, username: str) -> list[ReviewRequest]:
        self.expire_stale()
        with session(self.engine) as db:
            stmt = (
                select(ReviewRequest)
                .where((ReviewRequest.requester == username) | (ReviewRequest.counterparty == username))
                .order_by(col(ReviewRequest.created_at).desc())
                .limit(REQUESTS_LISTED_MAX)
            )
            return list(db.exec(stmt))

    def open_purchase(self, username: str, asset_id: str) -> ReviewRequest | None:
        """The user's undecided purchase of `asset_id`, which the asset page shows instead of
        another "Request purchase" (that would be DUPLICATE_REQUEST)."""
        stmt = select(ReviewRequest).where(
            ReviewRequest.requester == username, ReviewRequest.kind == "purchase", ReviewRequest.asset_id == asset_id,
            col(ReviewRequest.status).in_(OPEN_STATUSES),
        )
        with session(self.engine) as db:
            return db.exec(stmt).first()

    def audit(self, request_id: str, actor: str, action: str, detail: str = "") -> None:
        with session(self.engine) as db:
            db.add(AuditEntry(request_id=request_id, actor=actor, action=action, detail=detail[:1000]))
            db.commit()

    # --- making requests ------------------------------------------------------------------
    def _create(
        self,
        requester: str,
        signer: SigningIdentity,
        kind: str,
        function: str,
        args: list[str],
        summary: str,
        *,
        counterparty: str | None = None,
        amount: int = 0,
        asset_id: str | None = None,
    ) -> ReviewRequest:
        if kind != "register":
            self._require_open(requester)
        self._refuse_repeat(requester, kind, args, asset_id)
        invocation, tx_id = self.chain.new_invocation(signer, function, args)
        signoffs = [self.chain.signoff("party", signer, tx_id)]
        req = ReviewRequest(
            id=uuid.uuid4().hex[:16],
            kind=kind,
            function=function,
            args_json=json.dumps(args),
            invocation_hex=encode_invocation(invocation),
            tx_id=tx_id,
            requester=requester,
            counterparty=counterparty,
            signoffs_json=encode_signoffs(signoffs),
            summary=summary,
            amount=amount,
            asset_id=asset_id,
            status=Status.AWAITING_ACCEPTANCE if counterparty else Status.PENDING,
        )
        req.warnings_json = json.dumps(self.warnings(req))
        with session(self.engine) as db:
            db.add(req)
            db.commit()
        make_spares(self.engine, self.chain, req.id, signer, function, args)  # for approval retries
        self.audit(req.id, requester, "requested", summary)
        log.info("request_created", request_id=req.id, kind=kind, requester=requester, tx_id=tx_id)
        if req.status == Status.PENDING:
            for hook in self.on_created:
                hook(req)
        return self.get(req.id)

    def register(self, identity: SigningIdentity, user_id: str, user_name: str) -> ReviewRequest:
        check_username(user_id)
        user_name = check_display_name(user_name)
        summary = f"Opens the ledger account {user_id} ({user_name}), bound to the identity {identity.id}."
        return self._create(user_id, identity, "register", "userRegister", [user_name, user_id], summary)

    def topup(self, user: UserSession, user_id: str, token: Any) -> ReviewRequest:
        require_self(user, user_id)
        amount = check_amount(token, "top-up amount", minimum=1)
        summary = f"Adds {amount} tokens to the balance of {user_id}."
        return self._create(user.username, user.identity, "topup", "userTopup", [user_id, str(amount)], summary, amount=amount)

    def delete(self, user: UserSession, user_id: str) -> ReviewRequest:
        require_self(user, user_id)
        summary = f"Closes the account {user_id}: every asset it has on sale is cancelled; copies others bought stay theirs."
        return self._create(user.username, user.identity, "delete", "deleteUser", [user_id], summary)

    def enroll(self, user: UserSession, name: str, asset_id: str, metadata: str, owner_id: str, value: Any) -> ReviewRequest:
        require_self(user, owner_id)
        asset_id = check_id(asset_id, "asset id")
        name = check_asset_name(name)
        price = check_amount(value, "price", minimum=0)
        meta = parse_metadata(metadata)
        self.require_new_asset_id(asset_id)
        summary = (
            f"Publishes asset {asset_id} ({name!r}) by {owner_id} at {price} tokens: "
            f"{meta.get('format')} file of {meta.get('size')} bytes, SHA-256 {meta['sha256'][:16]}…, licence {meta['licence']!r}."
        )
        args = [name, asset_id, metadata, owner_id, str(price)]
        return self._create(user.username, user.identity, "enroll", "assetsEnroll", args, summary, amount=price, asset_id=asset_id)

    def exchange(self, user: UserSession, asset_id: str, origin_id: str, current_id: str) -> ReviewRequest:
        require_member(user)
        asset_id = check_id(asset_id, "asset id")
        origin_id, current_id = check_id(origin_id, "seller's user id"), check_id(current_id, "buyer's user id")  # an empty buyer read "has no console account"
        if user.username not in (origin_id, current_id):
            raise Forbidden("NOT_YOUR_ACCOUNT", f"You are logged in as {user.username}; you are neither seller nor buyer.")
        if origin_id == current_id:
            raise BadInput("SAME_PARTY", "Seller and buyer are the same user.")
        asset = self.chain.query_asset(asset_id)
        if asset is None:
            raise NotFound("ASSET_NOT_FOUND", f"There is no asset {asset_id!r} on the ledger.")
        require_on_sale(asset, "it can no longer be bought or passed on")
        require_not_issuer(asset, current_id)
        seller = self.chain.query_user(origin_id)
        if seller is None:
            raise NotFound("USER_NOT_FOUND", f"There is no ledger user {origin_id!r}.")
        price = int(asset.get("Value") or 0)
        args = [asset_id, origin_id, current_id]
        if asset_id in (seller.get("Issues") or []):
            if user.username != current_id:
                raise BadInput("BUYER_MUST_ASK", "A copy of a published asset is bought by the buyer; the publisher cannot push it.")
            summary = f"{current_id} pays {price} tokens to {origin_id} and receives a copy of {asset_id}; {origin_id} keeps it on sale."
            return self._create(user.username, user.identity, "purchase", "assetsExchange", args, summary, amount=price, asset_id=asset_id)
        if asset_id not in (seller.get("Assets") or []):
            raise Conflict("NOT_HELD_BY_SELLER", f"{origin_id} neither publishes nor holds asset {asset_id}.")
        other = current_id if user.username == origin_id else origin_id
        with session(self.engine) as db:
            counterparty = db.get(ConsoleUser, other)
            if counterparty is None:
                raise NotFound("USER_NOT_FOUND", f"{other} has no console account to accept the transfer.")
            if counterparty.is_admin:
                raise Forbidden("ADMIN_DOES_NOT_TRADE", f"{other} is an administrator: administrators hold no ledger account and take no transfer.")
        summary = (
            f"Transfer between holders: {current_id} pays {price} tokens to {origin_id}; asset {asset_id} moves from "
            f"{origin_id}'s holdings to {current_id}'s. Needs both parties' signatures."
        )
        return self._create(
            user.username, user.identity, "transfer", "assetsExchange", args, summary, counterparty=other, amount=price, asset_id=asset_id
        )

    def cancel(self, user: UserSession, asset_id: str, issuer_id: str) -> ReviewRequest:
        require_self(user, issuer_id)
        asset_id = check_id(asset_id, "asset id")
        asset = self._require_asset(asset_id)
        require_issuer(asset, issuer_id, "cancel it")
        require_on_sale(asset, "there is nothing left to cancel")
        summary = f"Takes asset {asset_id} off sale; new buyers are refused, holders keep their copies."
        return self._create(user.username, user.identity, "cancel", "assetsCancel", [asset_id, issuer_id], summary, asset_id=asset_id)

    def report(self, user: UserSession, original_id: str, copy_id: str) -> ReviewRequest:
        require_member(user)
        original_id = check_id(original_id, "original asset id")
        copy_id = check_id(copy_id, "copy asset id")
        original, copy = self._require_asset(original_id), self._require_asset(copy_id)
        require_issuer(original, user.username, "report copies of it")
        require_on_sale(copy, "there is no copy on sale left to report")
        summary = (
            f"{user.username} reports that asset {copy_id} re-publishes its asset {original_id}; "
            "the enrollment times on the ledger are the evidence, and an upheld report cancels the copy."
        )
        args = [original_id, copy_id, user.username]
        return self._create(user.username, user.identity, "report", "assetsReport", args, summary, asset_id=copy_id)

    def _refuse_repeat(self, requester: str, kind: str, args: list[str], asset_id: str | None) -> None:
        """The same request again while the first is undecided (a double click, a reload that
        sends the form again): both were queued and both dry runs said "would commit", yet of
        two purchases of one copy, two cancellations, two reports or two publications under one
        id only the first approved can commit. Top-ups may repeat on purpose."""
        if kind not in REPEAT_REFUSED_KINDS:
            return
        stmt = select(ReviewRequest).where(
            ReviewRequest.requester == requester, ReviewRequest.kind == kind, col(ReviewRequest.status).in_(OPEN_STATUSES)
        )
        with session(self.engine) as db:
            for other in db.exec(stmt):
                if (kind == "enroll" and other.asset_id == asset_id) or other.args_json == json.dumps(args):
                    raise Conflict(
                        "DUPLICATE_REQUEST",
                        f"You already asked for this: request {other.id} is {other.status.replace('_', ' ')}; it is decided once. Wait for it, or see it at /my/requests/{other.id}.",
                    )

    def _require_open(self, user_id: str) -> None:
        """A closed account asks for nothing more (the contract would refuse every request of
        it at approval): refused at once, 409, instead of queued for review. An account not
        open yet is still queued (its opening may be approved first)."""
        account = self.chain.query_user(user_id)
        if account is not None and account.get("Deleted"):
            raise Conflict("ACCOUNT_CLOSED", f"The account {user_id} is closed; it can make no more requests.")

    def _require_asset(self, asset_id: str) -> dict[str, Any]:
        """An unknown asset id is refused at once (404, as a purchase of one is), not queued
        for an administrator to review a request that can only fail; else the asset's record."""
        asset = self.chain.query_asset(asset_id)
        if asset is None:
            raise NotFound("ASSET_NOT_FOUND", f"There is no asset {asset_id!r} on the ledger.")
        return asset

    def check_publishable(self, user: UserSession, asset_id: str) -> None:
        """What `enroll` refuses at once, asked by the publish form before it stores the file: an
        administrator, a closed account, a taken asset id (see `webapp.prechecks`), the user's
        own undecided publication under that id."""
        require_member(user)
        self._require_open(user.username)
        self.require_new_asset_id(asset_id)
        self._refuse_repeat(user.username, "enroll", [], asset_id)

    def require_new_asset_id(self, asset_id: str) -> None:
        require_new_asset_id(self.chain.query_asset(asset_id), asset_id)

    def accept(self, user: UserSession, request_id: str) -> ReviewRequest:
        """The counterparty of a transfer signs it; it then enters the review queue."""
        req = self.get(request_id)
        if req.counterparty != user.username:
            raise Forbidden("NOT_YOUR_REQUEST", "Only the other party of this transfer can accept it.")
        if req.status != Status.AWAITING_ACCEPTANCE:
            raise Conflict("NOT_AWAITING_ACCEPTANCE", f"This request is {req.status}; it cannot be accepted now.")
        signoffs = decode_signoffs(req.signoffs_json) + [self.chain.signoff("party", user.identity, req.tx_id)]
        countersign_spares(self.engine, self.chain, req.id, user.identity)  # before it can be approved
        with self.engine.begin() as conn:
            result = conn.execute(
                update(ReviewRequest)
                .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.status) == Status.AWAITING_ACCEPTANCE)
                .values(status=Status.PENDING, signoffs_json=encode_signoffs(signoffs))
            )
        if result.rowcount != 1:
            raise Conflict("NOT_AWAITING_ACCEPTANCE", "This request changed meanwhile; reload it.")
        self.audit(req.id, user.username, "accepted", "counterparty signed the transfer")
        return self.get(req.id)

    def acceptance_dry_run(self, user: UserSession, request_id: str) -> DryRun:
        """For the counterparty of a transfer awaiting acceptance: what accepting would write,
        or the refusal it would get (INSUFFICIENT_BALANCE...), before signing."""
        req = self.get_visible(user, request_id)
        if req.counterparty != user.username:
            raise Forbidden("NOT_YOUR_REQUEST", "Only the other party of this transfer sees what accepting it would do.")
        if req.status != Status.AWAITING_ACCEPTANCE:
            raise Conflict("NOT_AWAITING_ACCEPTANCE", f"This request is {req.status}; it is not waiting for your acceptance.")
        return dry_run_accepting(self.chain, req, user.identity)

    # --- warnings ---------------------------------------------------------------------------
    def warnings(self, req: ReviewRequest) -> list[str]:
        found: list[str] = []
        limit = self.settings.warn_amount_above_tokens
        if req.amount > limit:
            found.append(f"Large amount: {req.amount} tokens (above the {limit} threshold).")
        if req.kind == "enroll":
            found.extend(self._duplicate_content_warnings(req))
            found.extend(self._same_asset_id_warnings(req))
            found.extend(earlier.sentence() for earlier in refused_before(self.engine, enroll_args(req)[2].get("sha256") or "", req.id))
        if req.kind in ("purchase", "transfer"):
            buyer = self.chain.query_user(json.loads(req.args_json)[2])
            if buyer is not None and int(buyer.get("Token") or 0) < req.amount:
                found.append(f"The buyer's balance ({buyer.get('Token')}) is below the price ({req.amount}).")
        return found

    def _same_asset_id_warnings(self, req: ReviewRequest) -> list[str]:
        """Two undecided publications under one asset id: each dry run says "would commit" (the
        id is free on the ledger yet), but only the first approved can; the other gets ASSET_EXISTS."""
        with session(self.engine) as db:
            others = db.exec(
                select(ReviewRequest).where(
                    ReviewRequest.kind == "enroll", ReviewRequest.asset_id == req.asset_id, ReviewRequest.id != req.id,
                    col(ReviewRequest.status).in_(OPEN_STATUSES),
                )
            )
            return [
                f"Same asset id: request {other.id} by {other.requester} also publishes asset {req.asset_id}; only the first approved can commit."
                for other in others
            ]

    def _duplicate_content_warnings(self, req: ReviewRequest) -> list[str]:
        args = json.loads(req.args_json)
        try:
            content_hash = json.loads(args[2]).get("sha256")
        except (ValueError, AttributeError):
            return []
        found = []
        for asset in self.index.with_content(str(content_hash or "")):  # by index, not a scan of every asset
            if asset.get("Id") != args[1]:
                found.append(
                    f"Duplicate content: this file's hash is already on the ledger as asset {asset.get('Id')} "
                    f"issued by {asset.get('IssuerId')}."
                )
        with session(self.engine) as db:
            others = db.exec(
                select(ReviewRequest).where(
                    ReviewRequest.kind == "enroll", ReviewRequest.id != req.id, col(ReviewRequest.status).in_(OPEN_STATUSES)
                )
            )
            for other in others:
                if content_hash in other.args_json:
                    found.append(f"Duplicate content: request {other.id} by {other.requester} publishes the same file.")
        return found
