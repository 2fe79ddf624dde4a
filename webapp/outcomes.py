"""Outcomes that stay true: what the console records of an approved request, and how it
settles the ones whose outcome it did not see.

An approved request is APPROVED until its transaction is ordered, then SUBMITTED until a
peer reports its commit. A commit timeout is not a failure: the request stays SUBMITTED
and is settled by its transaction id from any live peer. On start and every
`reconcile_interval_s`, every APPROVED or SUBMITTED request not being submitted right now
is reconciled with the ledger:

| on the ledger          | ledger can commit | decided longer ago than the bound | becomes   |
|------------------------|-------------------|-----------------------------------|-----------|
| VALID                  | -                 | -                                 | committed |
| an invalid code        | -                 | -                                 | failed    |
| absent                 | yes               | yes                               | pending (re-proposable, same tx id) |
| absent                 | no, or too recent | -                                 | unchanged |

Re-proposing keeps the request's transaction id, so the ledger itself refuses a second
copy (DUPLICATE_TXID): a request can never be paid twice.
"""

from __future__ import annotations

import threading

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from webapp.chain import BROADCAST_UNANSWERED, COMMIT_TIMEOUT, UNAVAILABLE_CODES, Chain, Outcome
from webapp.db import ReviewRequest, now_s, session
from webapp.metrics import Metrics
from webapp.retries import drop_spares
from webapp.settings import Settings
from webapp.workflow import Status, Workflow

log = structlog.get_logger("webapp.outcomes")

UNSETTLED_STATUSES = (Status.APPROVED, Status.SUBMITTED)
RECONCILE_BATCH_MAX = 500  # requests looked up per pass; the rest wait for the next one

# Outcome codes in words, for requesters.
CODE_WORDS = {
    "VALID": "committed to the ledger",
    "MVCC_READ_CONFLICT": "another transaction changed the same records first (read conflict); make the request again",
    "PHANTOM_READ_CONFLICT": "another transaction added records in the range this one read; make the request again",
    "DUPLICATE_TXID": "this transaction was already submitted once",
    "ENDORSEMENT_POLICY_FAILURE": "not enough organizations endorsed the transaction",
    "MISSING_ADMIN_APPROVAL": "the ledger did not find a valid administrator approval",
    "BAD_CREATOR_SIGNATURE": "the submitter's signature did not verify",
    "CHAINCODE_ERROR": "the contract failed while running the transaction",
    "UNKNOWN_IDENTITY": "an identity in the transaction is not a member of the channel",
    COMMIT_TIMEOUT: "ordered; its commit was not seen yet, and the console settles it from the ledger by its transaction id",
}


class Outcomes:
    """Records outcomes (only from APPROVED or SUBMITTED, so a late answer never overwrites a
    settled one) and reconciles unsettled requests with the ledger."""

    def __init__(self, engine: Engine, chain: Chain, settings: Settings, workflow: Workflow, metrics: Metrics) -> None:
        self.engine = engine
        self.chain = chain
        self.settings = settings
        self.workflow = workflow
        self.metrics = metrics
        self._in_flight: set[str] = set()  # requests a thread of this process is submitting
        self._lock = threading.Lock()
        self._pass_lock = threading.Lock()  # one reconcile pass at a time

    # --- while submitting -------------------------------------------------------------------
    def begin(self, request_id: str) -> None:
        with self._lock:
            self._in_flight.add(request_id)

    def end(self, request_id: str) -> None:
        with self._lock:
            self._in_flight.discard(request_id)

    def mark_submitted(self, req: ReviewRequest) -> None:
        """The transaction was ordered: from now on only the ledger knows its outcome."""
        with self.engine.begin() as conn:
            conn.execute(
                update(ReviewRequest)
                .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.status) == Status.APPROVED)
                .values(status=Status.SUBMITTED)
            )

    def record(self, req: ReviewRequest, outcome: Outcome, actor: str = "ledger") -> bool:
        """Settle the request with `outcome` (an unsettled one keeps it SUBMITTED); False if it
        was settled meanwhile by someone else."""
        if not outcome.settled:
            self.mark_submitted(req)
            with self.engine.begin() as conn:
                conn.execute(
                    update(ReviewRequest)
                    .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.status) == Status.SUBMITTED)
                    .values(code=outcome.code, message=CODE_WORDS[COMMIT_TIMEOUT])
                )
            self.workflow.audit(req.id, actor, "commit_timeout", f"{outcome.code}: {outcome.message}")
            log.warning("request_unsettled", request_id=req.id, tx_id=outcome.tx_id)
            return True
        status = Status.COMMITTED if outcome.committed else Status.FAILED
        message = outcome.message or CODE_WORDS.get(outcome.code, "")
        if not outcome.committed and outcome.code in CODE_WORDS and outcome.message:
            message = f"{CODE_WORDS[outcome.code]}: {outcome.message}"
        with self.engine.begin() as conn:
            result = conn.execute(
                update(ReviewRequest)
                .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.status).in_(UNSETTLED_STATUSES))
                .values(status=status, block=outcome.block, code=outcome.code, message=message)
            )
        if result.rowcount != 1:
            return False
        drop_spares(self.engine, req.id)  # settled: its retry signatures are of no more use
        where = f" in block {outcome.block}" if outcome.block is not None else ""
        self.workflow.audit(req.id, actor, status.value, f"{outcome.code}{where}: {message}".strip(": "))
        self.metrics.transactions.labels(code=outcome.code).inc()
        log.info("request_outcome", request_id=req.id, tx_id=outcome.tx_id, code=outcome.code, block=outcome.block)
        return True

    def give_back(self, req: ReviewRequest, outcome: Outcome) -> str | None:
        """An approval the ledger could not take (no peers to endorse it, no ordering
        service) is no verdict on the request; what the administrator is told, or None
        (record the outcome) for any other outcome.

        Refused before ordering: the request goes back to PENDING with its transaction id,
        so an administrator approves it again once the network is back, instead of the
        requester seeing it "refused by the ledger". A broadcast that went unanswered
        (BROADCAST_UNANSWERED) may have been ordered all the same: the request stays APPROVED
        and the reconcile pass settles it by its transaction id (committed if it was ordered,
        back in the queue once it has been absent long enough), so a committed transaction
        is never shown as pending, expired or failed."""
        if outcome.code not in UNAVAILABLE_CODES:
            return None
        if outcome.code == BROADCAST_UNANSWERED:
            self.workflow.audit(req.id, "ledger", "broadcast_unanswered", f"{outcome.code}: {outcome.message}; settled from the ledger by its transaction id")
            log.warning("approval_broadcast_unanswered", request_id=req.id, tx_id=req.tx_id)
            return (
                f"The ordering service did not answer ({outcome.code}: {outcome.message}). The transaction may still "
                "have been ordered: the console settles this request from the ledger by its transaction id "
                "(committed if it was ordered, back in the review queue otherwise)."
            )
        with self.engine.begin() as conn:
            result = conn.execute(
                update(ReviewRequest)
                .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.status) == Status.APPROVED)
                .values(status=Status.PENDING, decided_by=None, decided_at=None, code=None, message=None)
            )
        if result.rowcount != 1:
            return None
        self.workflow.audit(req.id, "ledger", "not_submitted", f"{outcome.code}: {outcome.message}; back in the queue, same transaction id")
        log.warning("approval_not_submitted", request_id=req.id, code=outcome.code)
        return (
            f"The ledger cannot take transactions right now ({outcome.code}: {outcome.message}). Nothing was "
            "submitted and the request is still pending: approve it again once the network is back."
        )

    # --- reconciling ------------------------------------------------------------------------
    def reconcile(self) -> dict[str, int]:
        """One pass over the unsettled requests (see the module's table); counts by result."""
        counts = {"committed": 0, "failed": 0, "reproposable": 0, "unchanged": 0}
        if not self._pass_lock.acquire(blocking=False):
            return counts  # a pass is running: it does the same work
        try:
            with session(self.engine) as db:
                unsettled = list(
                    db.exec(
                        select(ReviewRequest)
                        .where(col(ReviewRequest.status).in_(UNSETTLED_STATUSES))
                        .order_by(col(ReviewRequest.decided_at))
                        .limit(RECONCILE_BATCH_MAX)
                    )
                )
            can_commit: bool | None = None
            for req in unsettled:
                with self._lock:
                    if req.id in self._in_flight:
                        continue
                outcome = self.chain.commit_status(req.tx_id)
                if outcome is not None:
                    if self.record(req, outcome, actor="reconcile"):
                        counts["committed" if outcome.committed else "failed"] += 1
                    continue
                if can_commit is None:
                    can_commit = self.chain.can_commit()
                if can_commit and self._reproposable(req):
                    counts["reproposable"] += 1
                else:
                    counts["unchanged"] += 1
        finally:
            self._pass_lock.release()
        if any(counts[k] for k in ("committed", "failed", "reproposable")):
            log.info("reconciled", **counts)
        return counts

    def _reproposable(self, req: ReviewRequest) -> bool:
        """Absent from a ledger that can commit, long enough: back to the review queue."""
        cutoff = now_s() - self.settings.reconcile_absent_after_s
        with self.engine.begin() as conn:
            result = conn.execute(
                update(ReviewRequest)
                .where(
                    col(ReviewRequest.id) == req.id,
                    col(ReviewRequest.status).in_(UNSETTLED_STATUSES),
                    col(ReviewRequest.decided_at) <= cutoff,
                )
                .values(status=Status.PENDING, decided_by=None, decided_at=None, code=None, message=None)
            )
        if result.rowcount != 1:
            return False
        self.workflow.audit(
            req.id, "reconcile", "reproposable",
            f"{req.status} but absent from the ledger after {self.settings.reconcile_absent_after_s} s: back in the queue, same transaction id",
        )
        return True


class ReconcileLoop:
    """Reconciles on start and then every `interval_s`, on its own thread, until stopped."""

    def __init__(self, outcomes: Outcomes, interval_s: float) -> None:
        self.outcomes = outcomes
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconcile", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 30)

    def _run(self) -> None:
        while True:
            try:
                self.outcomes.reconcile()
            except Exception as exc:  # the ledger broke under us; the next pass tries again
                log.error("reconcile_failed", error=repr(exc))
            if self._stop.wait(self.interval_s):
                return
