"""Approval retries: an approved request whose transaction lost an MVCC race is re-endorsed
and resubmitted with the same administrator's signature, not handed back to its requester.

A transaction id that committed invalid stays on the ledger (a replay is DUPLICATE_TXID), so
a retry needs a new nonce and the parties' signatures over the new id. The parties sign
APPROVAL_RETRIES_MAX spare invocations of the same request when they sign it; a retry uses
the next one only after the previous transaction committed with a conflict code, which is
final, so at most one of them can ever commit VALID.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ledger.core.identity import SigningIdentity
from webapp.chain import Chain, decode_signoffs, encode_invocation, encode_signoffs
from webapp.db import ReviewRequest, SpareInvocation, session

APPROVAL_RETRIES_MAX = 3
RETRYABLE_CODES = ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT")


def make_spares(engine: Engine, chain: Chain, request_id: str, signer: SigningIdentity, function: str, args: list[str]) -> None:
    """The requester's signed spares for `request_id`."""
    with session(engine) as db:
        for attempt in range(1, APPROVAL_RETRIES_MAX + 1):
            invocation, tx_id = chain.new_invocation(signer, function, args)
            signoffs = encode_signoffs([chain.signoff("party", signer, tx_id)])
            db.add(SpareInvocation(request_id=request_id, attempt=attempt, invocation_hex=encode_invocation(invocation), tx_id=tx_id, signoffs_json=signoffs))
        db.commit()


def countersign_spares(engine: Engine, chain: Chain, request_id: str, signer: SigningIdentity) -> None:
    """The counterparty of a transfer signs the spares as it signs the request."""
    with session(engine) as db:
        for spare in db.exec(select(SpareInvocation).where(SpareInvocation.request_id == request_id)):
            spare.signoffs_json = encode_signoffs(decode_signoffs(spare.signoffs_json) + [chain.signoff("party", signer, spare.tx_id)])
            db.add(spare)
        db.commit()


def swap_in_spare(engine: Engine, req: ReviewRequest) -> ReviewRequest | None:
    """Make the next spare the request's transaction (back to APPROVED); None when none is
    left or the request was settled meanwhile."""
    with session(engine) as db:
        spare = db.exec(
            select(SpareInvocation).where(SpareInvocation.request_id == req.id).order_by(col(SpareInvocation.attempt)).limit(1)
        ).first()
    if spare is None:
        return None
    with engine.begin() as conn:
        conn.execute(delete(SpareInvocation).where(col(SpareInvocation.id) == spare.id))
        result = conn.execute(
            update(ReviewRequest)
            .where(col(ReviewRequest.id) == req.id, col(ReviewRequest.tx_id) == req.tx_id, col(ReviewRequest.status).in_(("approved", "submitted")))
            .values(status="approved", tx_id=spare.tx_id, invocation_hex=spare.invocation_hex, signoffs_json=spare.signoffs_json)
        )
    if result.rowcount != 1:
        return None
    with session(engine) as db:
        return db.get(ReviewRequest, req.id)


def drop_spares(engine: Engine, request_id: str) -> None:
    """Once a request is settled its spares are signatures nobody needs."""
    with engine.begin() as conn:
        conn.execute(delete(SpareInvocation).where(col(SpareInvocation.request_id) == request_id))
