"""Supervision: decided exactly once, never by the requester, rejections need reasons and
change nothing, expiry, bulk approval, auto-approval rules, the audit log."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.webapp.test_pages_security import new_http, page_login
from webapp.app import create_app
from webapp.db import ReviewRequest, session
from webapp.settings import AutoApprovalRules, Settings


@pytest.fixture(scope="module")
def second_admin(api, client) -> dict[str, str]:
    name = api.unique("adm")
    client.app.state.services.accounts.add_admin(name, "Second Administrator", "admin2-pass-123")
    return api.login(name, "admin2-pass-123")


def topup_request(api, client, user_id, headers, amount=7) -> str:
    response = client.post("/users/topup", json={"userId": user_id, "Token": amount}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["requestId"]


def test_two_admins_deciding_at_once_decide_once(api, client, second_admin):
    user_id, headers = api.register()
    request_id = topup_request(api, client, user_id, headers)
    services = client.app.state.services
    admins = [services.sessions.get(h["Authorization"].split()[1]) for h in (api.admin(), second_admin)]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def decide(admin) -> None:
        barrier.wait()
        try:
            outcomes.append(services.reviews.approve(admin, request_id).status)
        except Exception as exc:  # the loser gets ALREADY_DECIDED
            outcomes.append(getattr(exc, "code", repr(exc)))

    threads = [threading.Thread(target=decide, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ALREADY_DECIDED", "committed"]
    assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 7
    # and through HTTP: a second decision is a 409
    response = client.post(f"/reviews/{request_id}/reject", json={"reason": "late"}, headers=second_admin)
    assert response.status_code == 409 and response.json()["code"] == "ALREADY_DECIDED"
    actions = [e["action"] for e in client.get("/reviews/audit", params={"requestId": request_id}, headers=second_admin).json()]
    assert actions.count("approved") == 1 and "committed" in actions


def test_non_admins_cannot_review(api, client):
    user_id, headers = api.register()
    request_id = topup_request(api, client, user_id, headers)
    assert client.get("/reviews", headers=headers).status_code == 403
    response = client.post(f"/reviews/{request_id}/approve", headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "NOT_ADMIN"


def test_nobody_decides_their_own_request(api, client):
    """Administrators make no requests (ADMIN_DOES_NOT_TRADE, test_prechecks.py); one queued in
    an administrator's name all the same is still not theirs to decide."""
    admin = api.admin()
    services = client.app.state.services
    me = services.sessions.get(admin["Authorization"].removeprefix("Bearer "))
    req = services.workflow._create("admin", me.identity, "topup", "userTopup", ["admin", "5"], "Adds 5 tokens to admin.", amount=5)
    refused = client.post(f"/reviews/{req.id}/approve", headers=admin)
    assert refused.status_code == 403 and refused.json()["code"] == "OWN_REQUEST"


def test_rejection_needs_a_reason_and_changes_nothing(api, client):
    user_id, headers = api.register()
    height_before = client.get("/index").json()["height"]
    request_id = topup_request(api, client, user_id, headers, amount=99)
    missing = client.post(f"/reviews/{request_id}/reject", json={"reason": "  "}, headers=api.admin())
    assert missing.status_code == 400 and missing.json()["code"] == "REASON_REQUIRED"
    response = client.post(f"/reviews/{request_id}/reject", json={"reason": "No invoice attached."}, headers=api.admin())
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    seen = client.get(f"/requests/{request_id}", headers=headers).json()
    assert seen["status"] == "rejected" and seen["reason"] == "No invoice attached."
    assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 0
    assert client.get("/index").json()["height"] == height_before
    assert client.post(f"/reviews/{request_id}/approve", headers=api.admin()).status_code == 409


def test_undecided_requests_expire(api, client):
    user_id, headers = api.register()
    request_id = topup_request(api, client, user_id, headers)
    services = client.app.state.services
    with session(services.engine) as db:
        row = db.get(ReviewRequest, request_id)
        row.created_at = time.time() - services.settings.request_ttl_s - 1
        db.add(row)
        db.commit()
    client.get("/reviews", headers=api.admin())
    assert client.get(f"/requests/{request_id}", headers=headers).json()["status"] == "expired"
    response = client.post(f"/reviews/{request_id}/approve", headers=api.admin())
    assert response.status_code == 409


def age_past_ttl(client, request_id) -> None:
    services = client.app.state.services
    with session(services.engine) as db:
        row = db.get(ReviewRequest, request_id)
        row.created_at = time.time() - services.settings.request_ttl_s - 1
        db.add(row)
        db.commit()


def test_a_stale_request_is_expired_for_its_requester_and_counterparty_too(api, client):
    """Expiry ran only when an administrator listed the queue or decided: until then the
    requester saw "pending", and the counterparty of a transfer could still accept (sign) one
    that could no longer be approved."""
    user_id, headers = api.register()
    request_id = topup_request(api, client, user_id, headers)
    age_past_ttl(client, request_id)
    assert client.get(f"/requests/{request_id}", headers=headers).json()["status"] == "expired"  # no administrator looked
    publisher, pub_h = api.register()
    holder, holder_h = api.register()
    taker, taker_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=0)
    buy = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": holder}, headers=holder_h)
    assert api.approve(buy.json()["requestId"])["status"] == "committed"
    offer = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": holder, "currentOwnerId": taker}, headers=holder_h)
    offer_id = offer.json()["requestId"]
    age_past_ttl(client, offer_id)
    accepted = client.post(f"/requests/{offer_id}/accept", headers=taker_h)
    assert accepted.status_code == 409 and accepted.json()["code"] == "NOT_AWAITING_ACCEPTANCE", accepted.text
    http = new_http(client)
    page_login(http, taker)
    assert "expired" in http.get("/dashboard").text and "awaiting acceptance" not in http.get("/dashboard").text


def test_bulk_approve_commits_each(api, client):
    users = [api.register() for _ in range(3)]
    ids = [topup_request(api, client, user_id, headers, amount=11) for user_id, headers in users]
    response = client.post("/reviews/approve-bulk", json={"requestIds": ids + ids[:1]}, headers=api.admin())
    assert response.status_code == 200, response.text
    assert sorted(r["requestId"] for r in response.json()) == sorted(ids)
    assert all(r["ok"] and r["status"] == "committed" for r in response.json())
    for user_id, headers in users:
        assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 11


def test_large_amounts_are_flagged(api, client, settings):
    user_id, headers = api.register()
    request_id = topup_request(api, client, user_id, headers, amount=settings.warn_amount_above_tokens + 1)
    pending = {r["requestId"]: r for r in client.get("/reviews", params={"kind": "topup"}, headers=api.admin()).json()}
    assert any("Large amount" in w for w in pending[request_id]["warnings"])


def test_review_queue_filters(api, client):
    user_id, headers = api.register()
    topup_request(api, client, user_id, headers)
    mine = client.get("/reviews", params={"requester": user_id}, headers=api.admin()).json()
    assert [r["kind"] for r in mine] == ["topup"]
    assert client.get("/reviews", params={"requester": user_id, "kind": "delete"}, headers=api.admin()).json() == []
    committed = client.get("/reviews", params={"requester": user_id, "status": "committed"}, headers=api.admin()).json()
    assert [r["kind"] for r in committed] == ["register"]


def test_auto_approval_rule_is_off_by_default_and_approves_small_topups_when_set(network_dir, network, api, client):
    assert Settings().auto_approval.topup_below_tokens is None
    rules = Settings(fast_kdf=True, signups_per_hour=1_000_000, auto_approval=AutoApprovalRules(topup_below_tokens=50))
    with TestClient(app=create_app(network_dir, network=network, settings=rules)) as auto_client:
        user_id, headers = api.register()
        login = auto_client.post("/auth/login", json={"username": user_id, "password": "user-pass-123"})
        token = {"Authorization": f"Bearer {login.json()['token']}"}
        small = auto_client.post("/users/topup", json={"userId": user_id, "Token": 10}, headers=token).json()
        large = auto_client.post("/users/topup", json={"userId": user_id, "Token": 500}, headers=token).json()
        assert auto_client.get(f"/requests/{small['requestId']}", headers=token).json()["status"] == "committed"
        assert auto_client.get(f"/requests/{large['requestId']}", headers=token).json()["status"] == "pending"
        audit = auto_client.get("/reviews/audit", params={"requestId": small["requestId"]}, headers={
            "Authorization": "Bearer " + auto_client.post("/auth/login", json={"username": "admin", "password": "admin-pass-123"}).json()["token"]
        }).json()
        assert any(e["action"] == "auto_approved" and e["actor"].startswith("rule:") for e in audit)
