"""After a decision the administrator sees a confirmation and the next pending request;
statuses are shown in words."""

from __future__ import annotations

import re
from typing import Any

from tests.webapp.conftest import ADMIN_PASSWORD
from tests.webapp.test_pages_security import csrf_of, new_http, page_login
from webapp.words import status_words
from webapp.workflow import Status


def topup(client: Any, user_id: str, headers: dict[str, str], amount: int) -> str:
    response = client.post("/users/topup", json={"userId": user_id, "Token": amount}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def decide(http: Any, request_id: str, action: str, **form: str) -> str:
    token = csrf_of(http.get(f"/admin/reviews/{request_id}").text)
    response = http.post(f"/admin/reviews/{request_id}/{action}", data={"_csrf_token": token, **form}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/reviews/{request_id}?decided=1"
    return str(http.get(response.headers["location"]).text)


def next_link(page: str) -> str:
    match = re.search(r'id="next-pending">Next pending request: <a href="/admin/reviews/([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def test_approving_confirms_and_links_the_next_pending_request(api, client):
    user_id, headers = api.register()
    first = topup(client, user_id, headers, 12)
    second = topup(client, user_id, headers, 13)
    third = topup(client, user_id, headers, 14)  # so a pending request is left after both decisions
    http = new_http(client)
    page_login(http, "admin", ADMIN_PASSWORD)
    page = decide(http, first, "approve")
    assert 'id="decision"' in page and "You approved it: committed in block" in page
    following = next_link(page)
    assert following != first
    admin = api.admin()
    assert client.get(f"/requests/{following}", headers=admin).json()["status"] == "pending"
    assert client.get(f"/requests/{following}", headers=admin).json()["requester"] != "admin"
    rejected = decide(http, second, "reject", reason="one top-up a day")
    assert "You rejected it" in rejected and user_id in rejected
    after = next_link(rejected)  # the oldest pending request (ours, `third`, unless older ones wait)
    assert after not in (first, second)
    assert client.get(f"/requests/{after}", headers=admin).json()["status"] == "pending"
    assert client.get(f"/requests/{third}", headers=admin).json()["status"] == "pending"
    plain = http.get(f"/admin/reviews/{second}").text  # no confirmation without a fresh decision
    assert 'id="decision"' not in plain


def test_statuses_are_in_words_on_request_pages(api, client):
    for status in Status:
        assert status_words(status) != status.value.replace("_", " "), status
    user_id, headers = api.register()
    request_id = topup(client, user_id, headers, 5)
    http = new_http(client)
    page_login(http, user_id)
    page = http.get(f"/my/requests/{request_id}").text
    assert "status-words" in page and "waiting for an administrator&#39;s review" in page
    admin_http = new_http(client)
    page_login(admin_http, "admin", ADMIN_PASSWORD)
    queue = admin_http.get("/admin/reviews", params={"status": "awaiting_acceptance"}).text
    assert ">awaiting acceptance</option>" in queue and status_words("awaiting_acceptance") in queue


def test_after_the_last_pending_request_the_page_says_nothing_else_waits(api, client):
    """The empty state: once no other request waits for this administrator, the confirmation
    says so and links back to the queue instead of naming a next request."""
    user_id, headers = api.register()
    last = topup(client, user_id, headers, 15)
    admin = api.admin()
    for other in client.get("/reviews", params={"status": "pending"}, headers=admin).json():  # earlier tests' leftovers
        if other["requestId"] != last:
            response = client.post(f"/reviews/{other['requestId']}/reject", json={"reason": "clearing the queue for this test"}, headers=admin)
            assert response.status_code in (200, 403), response.text  # 403: the admin's own request, never offered as next
    http = new_http(client)
    page_login(http, "admin", ADMIN_PASSWORD)
    page = decide(http, last, "approve")
    assert "You approved it: committed in block" in page
    assert 'id="next-pending">No other request is waiting for you. <a href="/admin/reviews">Back to the queue</a>' in page
    assert "Next pending request" not in page
    # and as soon as one waits again, it is offered
    fresh = topup(client, user_id, headers, 16)
    assert next_link(decide(http, topup(client, user_id, headers, 17), "reject", reason="one is enough")) == fresh


def test_a_decided_request_does_not_say_what_it_will_change(api, client):
    """A failed or rejected request's page read "What it will change: ... pays 10 tokens" under
    "nothing changed"; a committed one's, what it changed."""
    user_id, headers = api.register()
    http = new_http(client)
    page_login(http, user_id)
    ok = client.post("/users/topup", json={"userId": user_id, "Token": 3}, headers=headers).json()["requestId"]
    assert api.approve(ok)["status"] == "committed"
    no = client.post("/users/topup", json={"userId": user_id, "Token": 4}, headers=headers).json()["requestId"]
    assert client.post(f"/reviews/{no}/reject", json={"reason": "no invoice"}, headers=api.admin()).status_code == 200
    waiting = client.post("/users/topup", json={"userId": user_id, "Token": 5}, headers=headers).json()["requestId"]
    said = {rid: http.get(f"/my/requests/{rid}").text for rid in (ok, no, waiting)}
    assert "What it changed</dt>" in said[ok]
    assert "What it asked for (nothing changed)</dt>" in said[no] and "What it will change" not in said[no]
    assert "What it will change</dt>" in said[waiting]
