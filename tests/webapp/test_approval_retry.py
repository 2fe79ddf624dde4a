"""Approval retries, forced deterministically: between the endorsement of an approved
request and its ordering, another transaction writing the same account is committed, so
the approved one commits MVCC_READ_CONFLICT. The console re-endorses it with the next spare
invocation (same administrator) instead of handing it back to the requester, and gives up
after APPROVAL_RETRIES_MAX retries."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.gateway.gateway import Gateway
from webapp.chain import decode_invocation, decode_signoffs
from webapp.db import ReviewRequest, session
from webapp.retries import APPROVAL_RETRIES_MAX

SUBMIT_TIMEOUT_S = 30.0


def topup(client: Any, user_id: str, headers: dict[str, str], amount: int) -> str:
    response = client.post("/users/topup", json={"userId": user_id, "Token": amount}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


class ConflictBeforeOrdering:
    """Patches Gateway.order: before each of the next `len(rivals)` envelopes is ordered, one
    rival request (a top-up of the same account) is committed straight through the chain."""

    def __init__(self, services: Any, rivals: list[str]) -> None:
        self.services = services
        self.rivals = list(rivals)
        self.forced = 0
        self._busy = False

    def commit_rival(self, request_id: str) -> None:
        chain = self.services.chain
        with session(self.services.engine) as db:
            req = db.get(ReviewRequest, request_id)
        assert req is not None
        signer = chain.service_identity()
        signoffs = decode_signoffs(req.signoffs_json) + [chain.signoff("approval", signer, req.tx_id)]
        outcome = chain.submit(signer, decode_invocation(req.invocation_hex), signoffs, SUBMIT_TIMEOUT_S)
        assert outcome.committed, outcome

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_order = Gateway.order

        def order(gateway: Gateway, envelope: bytes) -> None:
            if not self._busy and self.rivals:
                self._busy = True  # the rival's own ordering passes straight through
                try:
                    self.commit_rival(self.rivals.pop(0))
                    self.forced += 1
                finally:
                    self._busy = False
            real_order(gateway, envelope)

        monkeypatch.setattr(Gateway, "order", order)


def ledger_code(client: Any, tx_id: str) -> str | None:
    found = client.app.state.services.chain.commit_status(tx_id)
    return None if found is None else str(found.code)


def retried_entries(api: Any, request_id: str) -> list[dict[str, Any]]:
    audit = api.client.get("/reviews/audit", params={"requestId": request_id}, headers=api.admin()).json()
    return [e for e in audit if e["action"] == "retried"]


def test_an_mvcc_conflict_on_approval_is_retried_and_commits(api, client, monkeypatch):
    user_id, headers = api.register()
    approved = topup(client, user_id, headers, 100)
    rival = topup(client, user_id, headers, 7)
    first_tx = client.get(f"/requests/{approved}", headers=headers).json()["txId"]
    admin = api.admin()
    forcing = ConflictBeforeOrdering(client.app.state.services, [rival])
    forcing.install(monkeypatch)
    outcome = api.approve(approved, admin)
    assert forcing.forced == 1
    assert ledger_code(client, first_tx) == "MVCC_READ_CONFLICT"  # the first attempt really conflicted
    assert outcome["status"] == "committed" and outcome["txId"] != first_tx, outcome
    assert ledger_code(client, outcome["txId"]) == "VALID"
    assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 107  # each once
    entries = retried_entries(api, approved)
    assert len(entries) == 1 and "MVCC_READ_CONFLICT" in entries[0]["detail"] and "admin" in entries[0]["detail"]


def test_retries_are_bounded_and_the_request_fails_with_the_conflict(api, client, monkeypatch):
    user_id, headers = api.register()
    approved = topup(client, user_id, headers, 1000)
    rivals = [topup(client, user_id, headers, n + 1) for n in range(APPROVAL_RETRIES_MAX + 1)]
    forcing = ConflictBeforeOrdering(client.app.state.services, rivals)
    forcing.install(monkeypatch)
    outcome = api.approve(approved)
    tried = 1 + APPROVAL_RETRIES_MAX
    assert forcing.forced == tried  # every attempt met a conflict
    assert outcome["status"] == "failed" and outcome["code"] == "MVCC_READ_CONFLICT", outcome
    assert len(retried_entries(api, approved)) == APPROVAL_RETRIES_MAX
    # held: none of the tried transactions added the 1000 tokens; the rivals each did once
    balance = client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"]
    assert balance == sum(range(1, tried + 1))
