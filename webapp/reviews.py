"""Review: administrators approve (their signature goes into the transaction) or reject.

A request is decided exactly once: the decision is a conditional UPDATE from PENDING, and
only the caller whose update changed a row goes on. Nobody decides a request they made
or must co-sign; a rejection needs a reason; undecided requests expire.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ledger.core.identity import SigningIdentity
from webapp.bulk import conflict_groups
from webapp.chain import Chain, Outcome, decode_invocation, decode_signoffs
from webapp.db import AuditEntry, ReviewRequest, now_s, session
from webapp.dryrun import DryRun, dry_run
from webapp.errors import AppError, BadInput, Conflict, Forbidden, LedgerUnavailable
from webapp.metrics import Metrics
from webapp.outcomes import Outcomes
from webapp.retries import APPROVAL_RETRIES_MAX, RETRYABLE_CODES, swap_in_spare
from webapp.sessions import UserSession
from webapp.settings import REASON_LENGTH_MAX, Settings
from webapp.workflow import OPEN_STATUSES, REQUEST_KINDS, Status, Workflow

log = structlog.get_logger("webapp.reviews")

BULK_APPROVE_MAX = 100
BULK_WORKERS = 8
AUDIT_LISTED_MAX = 500
QUEUE_LISTED_MAX = 500

@dataclass(frozen=True, slots=True)
class BulkResult:
    request_id: str
    ok: bool
    status: str
    message: str
    kind: str
    requester: str


class ReviewService:
    def __init__(self, engine: Engine, chain: Chain, settings: Settings, workflow: Workflow, metrics: Metrics, outcomes: Outcomes) -> None:
        self.engine = engine
        self.chain = chain
        self.settings = settings
        self.workflow = workflow
        self.metrics = metrics
        self.outcomes = outcomes
        workflow.on_created.append(self._auto_approve)

    # --- reading ----------------------------------------------------------------------------
    def queue(self, status: str | None = "pending", kind: str | None = None, requester: str | None = None) -> list[ReviewRequest]:
        if status and status not in {s.value for s in Status}:  # a typo must not read as "nothing waiting"
            raise BadInput("BAD_STATUS", f"status is one of {', '.join(s.value for s in Status)}.")
        if kind and kind not in REQUEST_KINDS:
            raise BadInput("BAD_KIND", f"kind is one of {', '.join(REQUEST_KINDS)}.")
        self.expire_stale()
        stmt = select(ReviewRequest)
        if status:
            stmt = stmt.where(ReviewRequest.status == status)
        if kind:
            stmt = stmt.where(ReviewRequest.kind == kind)
        if requester:
            stmt = stmt.where(ReviewRequest.requester == requester)
        stmt = stmt.order_by(col(ReviewRequest.created_at)).limit(QUEUE_LISTED_MAX)
        with session(self.engine) as db:
            found = list(db.exec(stmt))
        for req in found:
            if req.status == Status.PENDING:  # as the review page does: a buyer may have topped up since
                try:
                    req.warnings_json = json.dumps(self.workflow.warnings(req))
                except AppError:  # the ledger does not answer now: the queue still lists, with the warnings made at request time
                    pass
        return found

    def audit_log(self, request_id: str | None = None) -> list[AuditEntry]:
        stmt = select(AuditEntry)
        if request_id:
            stmt = stmt.where(AuditEntry.request_id == request_id)
        stmt = stmt.order_by(col(AuditEntry.id).desc()).limit(AUDIT_LISTED_MAX)
        with session(self.engine) as db:
            return list(db.exec(stmt))

    def counts(self) -> dict[str, int]:
        with session(self.engine) as db:
            rows = db.exec(select(ReviewRequest.status, func.count()).group_by(ReviewRequest.status))
            return {status: count for status, count in rows}

    def next_pending(self, admin: UserSession, after_id: str) -> ReviewRequest | None:
        """The oldest pending request this administrator may decide, other than `after_id`."""
        stmt = (
            select(ReviewRequest)
            .where(ReviewRequest.status == Status.PENDING, ReviewRequest.id != after_id, ReviewRequest.requester != admin.username)
            .where((col(ReviewRequest.counterparty).is_(None)) | (ReviewRequest.counterparty != admin.username))
            .order_by(col(ReviewRequest.created_at))
            .limit(1)
        )
        with session(self.engine) as db:
            return db.exec(stmt).first()

    def dry_run(self, admin: UserSession, request_id: str) -> DryRun:
        """What approving an undecided request would write, or the refusal it would get."""
        if not admin.is_admin:
            raise Forbidden("NOT_ADMIN", "Only administrators review requests.")
        req = self.workflow.get(request_id)
        if req.status not in OPEN_STATUSES:
            raise Conflict("NOT_OPEN", f"This request is {req.status}; a dry run shows what an undecided request would do.")
        return dry_run(self.chain, req, admin.identity)

    # --- deciding ---------------------------------------------------------------------------
    def _check_may_decide(self, admin: UserSession, req: ReviewRequest) -> None:
        if not admin.is_admin:
            raise Forbidden("NOT_ADMIN", "Only administrators review requests.")
        if admin.username in (req.requester, req.counterparty):
            raise Forbidden("OWN_REQUEST", "You cannot decide a request you made or must sign; another administrator will.")

    def _claim(self, req: ReviewRequest, new_status: Status, actor: str, reason: str | None = None) -> None:
        """PENDING → new_status, exactly once across threads, processes and administrators."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(ReviewRequest)
                .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.status) == Status.PENDING)
                .values(status=new_status, decided_by=actor, decided_at=now_s(), reason=reason)
            )
        if result.rowcount != 1:
            current = self.workflow.get(req.id)
            by = f" by {current.decided_by}" if current.decided_by else ""
            raise Conflict("ALREADY_DECIDED", f"This request is already {current.status}{by}; nothing was changed.")

    def approve(self, admin: UserSession, request_id: str) -> ReviewRequest:
        self.expire_stale()
        req = self.workflow.get(request_id)
        self._check_may_decide(admin, req)
        return self._approve(req, admin.identity, admin.username, "approved")

    def reject(self, admin: UserSession, request_id: str, reason: str) -> ReviewRequest:
        self.expire_stale()
        req = self.workflow.get(request_id)
        self._check_may_decide(admin, req)
        reason = (reason or "").strip()
        if not reason or len(reason) > REASON_LENGTH_MAX:
            raise BadInput("REASON_REQUIRED", f"A rejection needs a reason (1 to {REASON_LENGTH_MAX} characters).")
        self._claim(req, Status.REJECTED, admin.username, reason)
        self.workflow.audit(req.id, admin.username, "rejected", reason)
        self._observe_decision(req, "rejected")
        log.info("request_rejected", request_id=req.id, admin=admin.username)
        return self.workflow.get(req.id)

    def bulk_approve(self, admin: UserSession, request_ids: list[str]) -> list[BulkResult]:
        """Approve each; requests writing the same account or asset one after another, the
        other groups in parallel (so they share blocks). Results in the order asked."""
        ids = list(dict.fromkeys(i for i in request_ids if i))[:BULK_APPROVE_MAX]
        if not ids:
            raise BadInput("NOTHING_SELECTED", "Select at least one request to approve.")
        found: dict[str, ReviewRequest] = {}
        results: dict[str, BulkResult] = {}
        for request_id in ids:
            try:
                found[request_id] = self.workflow.get(request_id)
            except AppError as exc:
                results[request_id] = BulkResult(request_id, False, exc.code, exc.message, "", "")

        def one(req: ReviewRequest) -> BulkResult:
            try:
                done = self.approve(admin, req.id)
                return BulkResult(req.id, done.status == Status.COMMITTED, done.status, done.message or "", req.kind, req.requester)
            except AppError as exc:
                return BulkResult(req.id, False, exc.code, exc.message, req.kind, req.requester)

        def group(reqs: list[ReviewRequest]) -> list[BulkResult]:
            return [one(req) for req in reqs]

        with ThreadPoolExecutor(max_workers=BULK_WORKERS) as pool:
            for outcome in pool.map(group, conflict_groups([found[i] for i in ids if i in found])):
                results.update((r.request_id, r) for r in outcome)
        return [results[i] for i in ids]

    def _approve(self, req: ReviewRequest, signer: SigningIdentity, actor: str, action: str) -> ReviewRequest:
        self._claim(req, Status.APPROVED, actor)
        self.workflow.audit(req.id, actor, action, f"approval signed by {signer.id}")
        self._observe_decision(req, action)
        self.outcomes.begin(req.id)
        try:
            outcome = self._submit(req, signer)
            for _ in range(APPROVAL_RETRIES_MAX):
                if not outcome.settled or outcome.code not in RETRYABLE_CODES:
                    break
                retry = swap_in_spare(self.engine, req)
                if retry is None:
                    break
                self.workflow.audit(req.id, "ledger", "retried", f"{outcome.code} on {req.tx_id[:12]}: re-endorsed as {retry.tx_id[:12]}, approval by {signer.id}")
                log.info("approval_retried", request_id=req.id, code=outcome.code, tx_id=retry.tx_id)
                req = retry
                outcome = self._submit(req, signer)
            told = self.outcomes.give_back(req, outcome)
            if told is not None:
                raise LedgerUnavailable(outcome.code, told)
            self.outcomes.record(req, outcome)
        finally:
            self.outcomes.end(req.id)
        return self.workflow.get(req.id)

    def _submit(self, req: ReviewRequest, signer: SigningIdentity) -> Outcome:
        """Sign the approval over the request's transaction id and submit it."""
        ordered: list[bool] = []

        def on_ordered() -> None:
            ordered.append(True)
            self.outcomes.mark_submitted(req)

        try:
            signoffs = decode_signoffs(req.signoffs_json) + [self.chain.signoff("approval", signer, req.tx_id)]
            return self.chain.submit(signer, decode_invocation(req.invocation_hex), signoffs, self.settings.submit_timeout_s, on_ordered)
        except Exception as exc:  # the ledger broke: never left APPROVED forever, never failed once ordered
            log.exception("submit_failed", request_id=req.id)
            message = f"the ledger could not take the transaction: {exc}"
            return Outcome(False, req.tx_id, None, "LEDGER_ERROR", message, settled=not ordered)

    def _observe_decision(self, req: ReviewRequest, decision: str) -> None:
        self.metrics.decisions.labels(decision=decision).inc()
        self.metrics.decision_latency.labels(decision=decision).observe(max(0.0, now_s() - req.created_at))

    # --- rules ------------------------------------------------------------------------------
    def _auto_approve(self, req: ReviewRequest) -> None:
        rule = self.settings.auto_approval.topup_below_tokens
        if rule is None or req.kind != "topup" or req.amount >= rule:
            return
        try:
            self._approve(req, self.chain.service_identity(), f"rule:topup-below-{rule}", "auto_approved")
        except (Conflict, LedgerUnavailable):  # decided meanwhile, or left pending for an administrator
            pass

    def expire_stale(self) -> int:
        return self.workflow.expire_stale()
