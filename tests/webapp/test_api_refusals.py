"""Every route's refusals: a stable code, a message, the right HTTP status."""

from __future__ import annotations

import json

import pytest


def expect_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"]
    if code:
        assert body["code"] == code, body
    return body


@pytest.fixture(scope="module")
def alice(api):
    return api.register()


@pytest.fixture(scope="module")
def bob(api):
    return api.register()


def test_routes_need_a_bearer_token(client):
    for method, path, kwargs in [
        ("get", "/users/get", {"params": {"userId": "x"}}),
        ("get", "/assets/get", {"params": {"assetId": "x"}}),
        ("get", "/assets/exchange/history", {"params": {"assetId": "x"}}),
        ("post", "/users/topup", {"json": {"userId": "x", "Token": 1}}),
        ("post", "/users/delete", {"json": {"userId": "x"}}),
        ("post", "/assets/enroll", {"json": {}}),
        ("post", "/assets/exchange", {"json": {}}),
        ("post", "/assets/cancel", {"json": {}}),
        ("get", "/requests/abc", {}),
        ("get", "/reviews", {}),
        ("post", "/reviews/abc/approve", {}),
        ("post", "/reviews/abc/reject", {"json": {"reason": "x"}}),
    ]:
        expect_error(getattr(client, method)(path, **kwargs), 401, "NOT_LOGGED_IN")


def test_a_session_cookie_does_not_open_the_api(client, alice):
    user_id, headers = alice
    token = headers["Authorization"].split()[1]
    response = client.get("/users/get", params={"userId": user_id}, headers={"Cookie": f"gl_session={token}"})
    expect_error(response, 401)


def test_login_refusals(client, api):
    # throttling: tests/webapp/test_throttle.py (its own console, so the shared address keeps no delays)
    expect_error(client.post("/auth/login", json={"username": "nobody-here", "password": "whatever1"}), 401, "BAD_LOGIN")


def test_register_refusals(client, alice):
    expect_error(client.post("/users/register", json={"userName": "A", "userId": "../x", "password": "long-enough"}), 400, "BAD_USER_ID")
    expect_error(client.post("/users/register", json={"userName": "A", "userId": "shortpw", "password": "short"}), 400, "WEAK_PASSWORD")
    expect_error(client.post("/users/register", json={"userName": "", "userId": "noname1", "password": "long-enough"}), 400, "BAD_USER_NAME")
    expect_error(client.post("/users/register", json={"userName": "A", "userId": alice[0], "password": "long-enough"}), 409, "USER_EXISTS")
    expect_error(client.post("/users/register", json={"userId": "missing"}), 400)


def test_queries_of_missing_records_are_404(client, api, alice):
    _, headers = alice
    expect_error(client.get("/users/get", params={"userId": "nobody-at-all"}, headers=headers), 403, "NOT_YOUR_ACCOUNT")
    expect_error(client.get("/users/get", params={"userId": "nobody-at-all"}, headers=api.admin()), 404, "USER_NOT_FOUND")
    expect_error(client.get("/users/profile", params={"userId": "nobody-at-all"}, headers=headers), 404, "USER_NOT_FOUND")
    expect_error(client.get("/assets/get", params={"assetId": "no-such-asset"}, headers=headers), 404, "ASSET_NOT_FOUND")
    expect_error(client.get("/assets/exchange/history", params={"assetId": "no-such-asset", "queryType": "all"}, headers=headers), 404)
    expect_error(client.get("/assets/exchange/history", params={"assetId": "x", "queryType": "bogus"}, headers=headers), 400, "BAD_QUERY_TYPE")
    expect_error(client.get("/requests/nope", headers=headers), 404, "REQUEST_NOT_FOUND")


def test_a_user_cannot_act_for_another(client, alice, bob):
    _, alice_h = alice
    bob_id, bob_h = bob
    expect_error(client.post("/users/topup", json={"userId": bob_id, "Token": 10}, headers=alice_h), 403, "NOT_YOUR_ACCOUNT")
    expect_error(client.post("/users/delete", json={"userId": bob_id}, headers=alice_h), 403, "NOT_YOUR_ACCOUNT")
    expect_error(client.post("/assets/cancel", json={"assetId": "a1", "issuerId": bob_id}, headers=alice_h), 403, "NOT_YOUR_ACCOUNT")
    metadata = json.dumps({"sha256": "0" * 64, "format": "csv", "licence": "x"})
    enroll = {"assetName": "n", "assetId": "a1", "metadata": metadata, "ownerId": bob_id, "value": 1}
    expect_error(client.post("/assets/enroll", json=enroll, headers=alice_h), 403, "NOT_YOUR_ACCOUNT")
    exchange = {"assetId": "a1", "originOwnerId": bob_id, "currentOwnerId": "someone-else"}
    expect_error(client.post("/assets/exchange", json=exchange, headers=alice_h), 403, "NOT_YOUR_ACCOUNT")


def test_a_request_is_seen_only_by_its_parties_and_admins(api, client, alice, bob):
    alice_id, alice_h = alice
    _, bob_h = bob
    request_id = client.post("/users/topup", json={"userId": alice_id, "Token": 3}, headers=alice_h).json()["requestId"]
    assert client.get(f"/requests/{request_id}", headers=alice_h).json()["status"] == "pending"
    expect_error(client.get(f"/requests/{request_id}", headers=bob_h), 403, "NOT_YOUR_REQUEST")
    assert client.get(f"/requests/{request_id}", headers=api.admin()).status_code == 200
    expect_error(client.post(f"/requests/{request_id}/accept", headers=bob_h), 403, "NOT_YOUR_REQUEST")


def test_bad_amounts_and_ids(client, alice):
    alice_id, alice_h = alice
    for amount in (0, -5, "ten", 10**12):
        expect_error(client.post("/users/topup", json={"userId": alice_id, "Token": amount}, headers=alice_h), 400, "BAD_AMOUNT")
    bad_meta = {"assetName": "n", "assetId": "a1", "metadata": "not json", "ownerId": alice_id, "value": 1}
    expect_error(client.post("/assets/enroll", json=bad_meta, headers=alice_h), 400, "BAD_METADATA")
    not_uploaded = dict(bad_meta, metadata=json.dumps({"sha256": "ab" * 32, "format": "csv", "licence": "x"}))
    expect_error(client.post("/assets/enroll", json=not_uploaded, headers=alice_h), 400, "DATASET_NOT_UPLOADED")
    exchange = {"assetId": "no-such-asset", "originOwnerId": "x", "currentOwnerId": alice_id}
    expect_error(client.post("/assets/exchange", json=exchange, headers=alice_h), 404, "ASSET_NOT_FOUND")
    same = {"assetId": "a", "originOwnerId": alice_id, "currentOwnerId": alice_id}
    expect_error(client.post("/assets/exchange", json=same, headers=alice_h), 400, "SAME_PARTY")


def test_contract_refusals_reach_the_requester_in_words(api, client):
    buyer, buyer_h = api.register()
    publisher, pub_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=50)
    response = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}, headers=buyer_h)
    request_id = response.json()["requestId"]
    review = next(r for r in client.get("/reviews", headers=api.admin()).json() if r["requestId"] == request_id)
    assert any("balance" in w for w in review["warnings"])
    outcome = api.approve(request_id)
    assert outcome["status"] == "failed" and outcome["code"] == "INSUFFICIENT_BALANCE"
    seen = client.get(f"/requests/{request_id}", headers=buyer_h).json()
    assert seen["status"] == "failed" and seen["code"] == "INSUFFICIENT_BALANCE" and seen["message"]


def test_uploads_refused_by_type_and_size(client, alice, settings):
    _, headers = alice
    body = expect_error(client.post("/datasets", files={"file": ("x.exe", b"MZ...", "application/octet-stream")}, headers=headers), 415, "UNSUPPORTED_FILE_TYPE")
    assert ".csv" in body["message"]
    big = b"a,b\n" + b"1,2\n" * (settings.dataset_bytes_max // 4 + 1)
    expect_error(client.post("/datasets", files={"file": ("big.csv", big, "text/csv")}, headers=headers), 413, "DATASET_TOO_LARGE")
    expect_error(client.post("/datasets", files={"file": ("empty.csv", b"", "text/csv")}, headers=headers), 400)


def test_a_malformed_request_names_the_field_as_the_caller_wrote_it(client, alice):
    """Not '(data)' for a missing body field, nor the handler's 'page_size' for ?pageSize=."""
    user_id, headers = alice
    missing = expect_error(client.post("/users/topup", json={"userId": user_id}, headers=headers), 400, "BAD_REQUEST")
    assert "'Token' is required" in missing["message"] and "data" not in missing["message"], missing
    wrong = expect_error(client.post("/users/topup", json={"userId": user_id, "Token": 1.5}, headers=headers), 400, "BAD_REQUEST")
    assert "Token:" in wrong["message"], wrong
    size = expect_error(client.get("/assets/search", params={"pageSize": 0}, headers=headers), 400, "BAD_REQUEST")
    assert "pageSize: expected `int` >= 1" in size["message"] and "page_size" not in size["message"], size
    sale = expect_error(client.get("/assets/search", params={"onSaleOnly": "maybe"}, headers=headers), 400, "BAD_REQUEST")
    assert "onSaleOnly" in sale["message"], sale
    bare = expect_error(client.post("/users/topup", headers=headers), 400, "BAD_REQUEST")
    assert "a JSON object body is required" in bare["message"], bare
    shape = expect_error(client.post("/users/topup", json=[1, 2], headers=headers), 400, "BAD_REQUEST")
    assert "the body: expected `object`" in shape["message"], shape
    form = expect_error(client.post("/users/topup", data={"userId": user_id, "Token": "1"}, headers=headers), 400, "BAD_REQUEST")
    assert "send it as JSON with Content-Type: application/json" in form["message"], form
    assert "application/x-www-form-urlencoded" in form["message"], form
    # an upload sent as JSON was only "The request is malformed or misses a field."
    upload = expect_error(client.post("/datasets", json={"file": "time,load\n1,2\n"}, headers=headers), 400, "BAD_REQUEST")
    assert "the body is application/json; send it as multipart/form-data with the file in the field 'file'" in upload["message"], upload


def test_cancel_and_report_of_an_unknown_asset_are_404_and_queue_nothing(api, client, alice):
    """As a purchase of an unknown asset is: no request an administrator could only reject."""
    user_id, headers = alice
    asset_id = api.publish(user_id, headers)
    pending_before = len(client.get("/reviews", params={"status": "pending"}, headers=api.admin()).json())
    expect_error(client.post("/assets/cancel", json={"assetId": "no-such-asset", "issuerId": user_id}, headers=headers), 404, "ASSET_NOT_FOUND")
    for original, copy in ((asset_id, "no-such-asset"), ("no-such-asset", asset_id)):
        body = {"originalAssetId": original, "copyAssetId": copy}
        expect_error(client.post("/assets/report", json=body, headers=headers), 404, "ASSET_NOT_FOUND")
    assert len(client.get("/reviews", params={"status": "pending"}, headers=api.admin()).json()) == pending_before
    # a known asset is still queued as before
    assert client.post("/assets/cancel", json={"assetId": asset_id, "issuerId": user_id}, headers=headers).status_code == 202


def test_an_unknown_filter_value_is_refused_not_answered_with_an_empty_list(api, client, alice):
    """A typo in ?status=, ?kind= or ?format= read as "nothing waiting" / "no assets"."""
    _, headers = alice
    admin = api.admin()
    expect_error(client.get("/reviews", params={"status": "pendng"}, headers=admin), 400, "BAD_STATUS")
    expect_error(client.get("/reviews", params={"status": "", "kind": "purchases"}, headers=admin), 400, "BAD_KIND")
    expect_error(client.get("/assets/search", params={"format": "xml"}, headers=headers), 400, "BAD_FORMAT")
    assert client.get("/reviews", params={"status": "committed", "kind": "register"}, headers=admin).json()
    assert client.get("/assets/search", params={"format": "csv"}, headers=headers).status_code == 200


def test_a_closed_account_makes_no_more_requests(api, client):
    """Its dashboard still offered a top-up, queued for review, then refused by the contract."""
    from tests.webapp.test_pages_security import csrf_of, new_http

    user_id, headers = api.register()
    closing = client.post("/users/delete", json={"userId": user_id}, headers=headers)
    assert api.approve(closing.json()["requestId"])["status"] == "committed"
    expect_error(client.post("/users/topup", json={"userId": user_id, "Token": 5}, headers=headers), 409, "ACCOUNT_CLOSED")
    expect_error(client.post("/users/delete", json={"userId": user_id}, headers=headers), 409, "ACCOUNT_CLOSED")
    assert [r["kind"] for r in client.get("/reviews", params={"status": "", "requester": user_id}, headers=api.admin()).json()] == ["register", "delete"]
    http = new_http(client)
    token = csrf_of(http.get("/login").text)
    http.post("/login", data={"username": user_id, "password": "user-pass-123", "_csrf_token": token})
    dashboard = http.get("/dashboard").text
    assert "This account is closed" in dashboard and 'action="/account/topup"' not in dashboard
