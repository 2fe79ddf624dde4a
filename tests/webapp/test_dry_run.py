"""Dry run on the review desk: the request is simulated on the peers before approval; the
page and GET /reviews/{id}/dry-run show what it would write or the refusal it would get,
and nothing is ordered."""

from __future__ import annotations

import json
from typing import Any

from tests.webapp.conftest import ADMIN_PASSWORD
from tests.webapp.test_pages_security import new_http, page_login


def queued(response: Any) -> str:
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def dry_run(client: Any, api: Any, request_id: str) -> dict[str, Any]:
    response = client.get(f"/reviews/{request_id}/dry-run", headers=api.admin())
    assert response.status_code == 200, response.text
    return dict(response.json())


def height(client: Any) -> int:
    return int(client.get("/index").json()["height"])


def test_a_topup_shows_the_account_it_would_write_and_nothing_is_ordered(api, client):
    user_id, headers = api.register()
    request_id = queued(client.post("/users/topup", json={"userId": user_id, "Token": 37}, headers=headers))
    before = height(client)
    result = dry_run(client, api, request_id)
    assert result["outcome"] == "would_commit" and result["code"] == "", result
    written = {w["key"]: w["value"] for w in result["writes"]}
    account = next(value for key, value in written.items() if key.endswith(f"user/{user_id}"))
    assert json.loads(account)["Token"] == 37  # decoded, not bytes
    assert any(key.endswith(f"user/{user_id}") for key in result["reads"])
    # nothing ordered: same height, balance untouched, still pending; a second dry run agrees
    assert height(client) == before
    assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 0
    assert client.get(f"/requests/{request_id}", headers=headers).json()["status"] == "pending"
    assert dry_run(client, api, request_id)["outcome"] == "would_commit"
    assert api.approve(request_id)["status"] == "committed"
    assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 37


def test_refusals_are_named_before_approval(api, client):
    publisher, pub_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=50)
    tried = {}
    # ASSET_EXISTS: two publishers' publications under one new id, queued together; the first
    # is approved (a taken id is refused at once, when the request is made: test_prechecks.py)
    rival, rival_h = api.register()
    racing_id, racing = api.unique("race"), []
    for n, (owner, owner_h) in enumerate(((publisher, pub_h), (rival, rival_h))):
        info = api.upload(owner_h, f"time,load_kw\n2024-01-02T00:00,{api.unique('')}\n".encode())
        metadata = json.dumps({**info, "description": f"race {n}", "licence": "research use"})
        body = {"assetName": f"Race {n}", "assetId": racing_id, "metadata": metadata, "ownerId": owner, "value": 5}
        racing.append(queued(client.post("/assets/enroll", json=body, headers=owner_h)))
    warned = client.get(f"/requests/{racing[1]}", headers=rival_h).json()["warnings"]
    assert any(w.startswith(f"Same asset id: request {racing[0]}") for w in warned), warned
    assert api.approve(racing[0])["status"] == "committed"
    tried["ASSET_EXISTS"] = racing[1]
    # INSUFFICIENT_BALANCE: a buyer with 0 tokens asks for a 50-token copy
    buyer, buyer_h = api.register()
    body = {"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}
    tried["INSUFFICIENT_BALANCE"] = queued(client.post("/assets/exchange", json=body, headers=buyer_h))
    # USER_NOT_FOUND: a top-up of an account whose opening is not approved yet
    newcomer, _ = api.register(approve=False)
    newcomer_h = api.login(newcomer)
    tried["USER_NOT_FOUND"] = queued(client.post("/users/topup", json={"userId": newcomer, "Token": 5}, headers=newcomer_h))
    held = {}
    for code, request_id in tried.items():
        result = dry_run(client, api, request_id)
        held[code] = result["outcome"] == "would_fail" and result["code"] == code and bool(result["message"]) and not result["writes"]
    assert held == {code: True for code in tried}, held
    # and the approval fails with exactly the code the dry run named
    assert api.approve(tried["INSUFFICIENT_BALANCE"])["code"] == "INSUFFICIENT_BALANCE"


def test_dry_run_is_for_administrators_and_undecided_requests(api, client):
    user_id, headers = api.register()
    request_id = queued(client.post("/users/topup", json={"userId": user_id, "Token": 3}, headers=headers))
    refused = client.get(f"/reviews/{request_id}/dry-run", headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "NOT_ADMIN"
    assert client.get("/reviews/nosuchrequest/dry-run", headers=api.admin()).status_code == 404
    api.approve(request_id)
    decided = client.get(f"/reviews/{request_id}/dry-run", headers=api.admin())
    assert decided.status_code == 409 and decided.json()["code"] == "NOT_OPEN"


def test_the_review_page_shows_the_dry_run(api, client):
    user_id, headers = api.register()
    ok_id = queued(client.post("/users/topup", json={"userId": user_id, "Token": 41}, headers=headers))
    newcomer, _ = api.register(approve=False)
    bad_id = queued(client.post("/users/topup", json={"userId": newcomer, "Token": 5}, headers=api.login(newcomer)))
    http = new_http(client)
    page_login(http, "admin", ADMIN_PASSWORD)
    ok_page = http.get(f"/admin/reviews/{ok_id}").text
    assert 'id="dry-run"' in ok_page and "Would commit" in ok_page
    assert f"user/{user_id}" in ok_page
    assert "&#34;Token&#34;: 41" in ok_page  # the decoded value, escaped
    bad_page = http.get(f"/admin/reviews/{bad_id}").text
    assert "The ledger would refuse it" in bad_page and "USER_NOT_FOUND" in bad_page


def test_written_values_are_decoded_for_people():
    from webapp.dryrun import decode_value

    shown = decode_value(b'{"Id":"a1","Metadata":"{\\"licence\\":\\"CC-BY\\"}"}')
    assert '"licence": "CC-BY"' in shown and "\\" not in shown  # nested JSON text shown as fields
    assert decode_value(b"plain text") == "plain text"
    assert decode_value(b"\xff\x00") == "0xff00"


def offer(client: Any, api: Any, value: int = 30) -> tuple[str, str, dict[str, str], str]:
    """A holder offers its copy to a second user: (request id, second user, its headers, asset id)."""
    publisher, pub_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=value)
    holder, holder_h = api.register()
    api.topup(holder, holder_h, value)
    assert api.approve(queued(client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": holder}, headers=holder_h)))["status"] == "committed"
    second, second_h = api.register()
    response = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": holder, "currentOwnerId": second}, headers=holder_h)
    assert response.status_code == 202 and response.json()["status"] == "awaiting_acceptance", response.text
    return str(response.json()["requestId"]), second, second_h, asset_id


def test_a_transfer_awaiting_acceptance_shows_what_accepting_would_do(api, client):
    request_id, second, second_h, asset_id = offer(client, api)
    before = height(client)
    # the accepter has no tokens yet: accepting would be refused, and the page says so before signing
    poor = client.get(f"/requests/{request_id}/dry-run", headers=second_h)
    assert poor.status_code == 200, poor.text
    assert poor.json()["outcome"] == "would_fail" and poor.json()["code"] == "INSUFFICIENT_BALANCE" and not poor.json()["writes"]
    http = new_http(client)
    page_login(http, second)
    shown = http.get(f"/my/requests/{request_id}").text
    assert 'id="dry-run"' in shown and "The ledger would refuse it" in shown and "INSUFFICIENT_BALANCE" in shown
    # with tokens it would commit: the asset moves to the accepter's holdings; nothing was signed for good or ordered
    api.topup(second, second_h, 30)
    after_topup = height(client)
    result = client.get(f"/requests/{request_id}/dry-run", headers=second_h).json()
    assert result["outcome"] == "would_commit", result
    account = next(json.loads(w["value"]) for w in result["writes"] if w["key"].endswith(f"user/{second}"))
    assert asset_id in account["Assets"] and account["Token"] == 0
    assert "Would commit" in http.get(f"/my/requests/{request_id}").text
    assert height(client) == after_topup >= before
    state = client.get(f"/requests/{request_id}", headers=second_h).json()
    assert state["status"] == "awaiting_acceptance" and asset_id not in client.get("/users/get", params={"userId": second}, headers=second_h).json()["Assets"]
    # only the counterparty asks, only while it awaits acceptance
    assert client.get(f"/requests/{request_id}/dry-run", headers=api.admin()).json()["code"] == "NOT_YOUR_REQUEST"
    outsider_h = api.register()[1]
    assert client.get(f"/requests/{request_id}/dry-run", headers=outsider_h).status_code == 403
    assert client.post(f"/requests/{request_id}/accept", headers=second_h).status_code == 202
    late = client.get(f"/requests/{request_id}/dry-run", headers=second_h)
    assert late.status_code == 409 and late.json()["code"] == "NOT_AWAITING_ACCEPTANCE"
    assert api.approve(request_id)["status"] == "committed"  # what the dry run said
    assert asset_id in client.get("/users/get", params={"userId": second}, headers=second_h).json()["Assets"]
