"""Refusals certain when a request is made are told then, with a stable code, and nothing
is queued or stored: a taken asset id (ASSET_EXISTS), someone else's asset (NOT_ISSUER), an
asset no longer on sale (ASSET_NOT_ON_SALE), its publisher buying it (BUYER_IS_ISSUER), an
administrator's request (ADMIN_DOES_NOT_TRADE), a closed account's publication, the same
request again while the first is undecided (DUPLICATE_REQUEST). Before, each waited in the
review queue for a dry run that could only say it would fail (and buying a cancelled asset
said its publisher 'neither publishes nor holds' it). Also the asset page offering only what
can still succeed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.webapp.test_pages_security import csrf_of, new_http, page_login


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status and response.json()["code"] == code, response.text
    assert response.json()["message"]


def queued_by(client: Any, api: Any, user_id: str) -> list[dict[str, Any]]:
    """Every request of `user_id` but its account's opening."""
    found = client.get("/reviews", params={"requester": user_id, "status": ""}, headers=api.admin()).json()
    return [r for r in found if r["kind"] != "register"]


def bought(client: Any, api: Any, asset_id: str, seller: str, buyer: str, headers: dict[str, str]) -> None:
    response = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": seller, "currentOwnerId": buyer}, headers=headers)
    assert response.status_code == 202, response.text
    assert api.approve(response.json()["requestId"])["status"] == "committed"


def cancelled(client: Any, api: Any, asset_id: str, issuer: str, headers: dict[str, str]) -> None:
    response = client.post("/assets/cancel", json={"assetId": asset_id, "issuerId": issuer}, headers=headers)
    assert response.status_code == 202, response.text
    assert api.approve(response.json()["requestId"])["status"] == "committed"


def test_a_taken_asset_id_is_refused_when_published(api, client):
    publisher, pub_h = api.register()
    asset_id = api.publish(publisher, pub_h)
    other, other_h = api.register()
    content = f"time,load_kw\n2024-03-01T00:00,{api.unique('')}\n".encode()
    info = api.upload(other_h, content)
    body = {"assetName": "Mine too", "assetId": asset_id, "metadata": json.dumps({**info, "licence": "research use"}), "ownerId": other, "value": 3}
    refused(client.post("/assets/enroll", json=body, headers=other_h), 409, "ASSET_EXISTS")
    assert queued_by(client, api, other) == []
    # the publish form says so with what was typed kept, and stores no file
    http = new_http(client)
    page_login(http, other)
    content = f"time,load_kw\n2024-03-02T00:00,{api.unique('')}\n".encode()
    typed = {"asset_id": asset_id, "name": "Mine too", "price": "3", "description": "kept", "licence": "research use"}
    shown = http.post("/publish", data={**typed, "_csrf_token": csrf_of(http.get("/publish").text)}, files={"file": ("load.csv", content, "text/csv")})
    assert shown.status_code == 409 and "<code>ASSET_EXISTS</code>" in shown.text and 'value="Mine too"' in shown.text
    assert not client.app.state.services.datasets.has(hashlib.sha256(content).hexdigest())
    assert queued_by(client, api, other) == []


def test_only_the_issuer_cancels_or_reports_and_only_what_is_on_sale(api, client):
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    original = api.publish(publisher, pub_h, value=2)
    api.topup(buyer, buy_h, 10)
    bought(client, api, original, publisher, buyer, buy_h)
    copy = api.publish(buyer, buy_h, value=1)
    refused(client.post("/assets/cancel", json={"assetId": original, "issuerId": buyer}, headers=buy_h), 403, "NOT_ISSUER")
    refused(client.post("/assets/report", json={"originalAssetId": copy, "copyAssetId": original}, headers=pub_h), 403, "NOT_ISSUER")
    cancelled(client, api, copy, buyer, buy_h)
    refused(client.post("/assets/cancel", json={"assetId": copy, "issuerId": buyer}, headers=buy_h), 409, "ASSET_NOT_ON_SALE")
    refused(client.post("/assets/report", json={"originalAssetId": original, "copyAssetId": copy}, headers=pub_h), 409, "ASSET_NOT_ON_SALE")
    for user_id in (publisher, buyer):  # none of the refused ones was queued
        assert [r["kind"] for r in queued_by(client, api, user_id) if r["status"] != "committed"] == []


def test_a_cancelled_asset_cannot_be_bought_or_passed_on_and_its_publisher_never_buys_it(api, client):
    publisher, pub_h = api.register()
    holder, holder_h = api.register()
    latecomer, late_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=2)
    api.topup(holder, holder_h, 10)
    api.topup(latecomer, late_h, 10)
    bought(client, api, asset_id, publisher, holder, holder_h)
    # the publisher buying back the copy a holder has
    back = {"assetId": asset_id, "originOwnerId": holder, "currentOwnerId": publisher}
    refused(client.post("/assets/exchange", json=back, headers=pub_h), 409, "BUYER_IS_ISSUER")
    cancelled(client, api, asset_id, publisher, pub_h)
    purchase = {"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": latecomer}
    refused(client.post("/assets/exchange", json=purchase, headers=late_h), 409, "ASSET_NOT_ON_SALE")  # was NOT_HELD_BY_SELLER
    offer = {"assetId": asset_id, "originOwnerId": holder, "currentOwnerId": latecomer}
    refused(client.post("/assets/exchange", json=offer, headers=holder_h), 409, "ASSET_NOT_ON_SALE")  # was queued, awaiting acceptance
    assert sorted(r["kind"] for r in queued_by(client, api, latecomer)) == ["topup"]
    assert sorted(r["kind"] for r in queued_by(client, api, holder)) == ["purchase", "topup"]
    assert sorted(r["kind"] for r in queued_by(client, api, publisher)) == ["cancel", "enroll"]


def test_the_asset_page_offers_no_action_a_cancelled_asset_would_refuse(api, client):
    """A holder of a cancelled asset was offered "Offer my copy", and a publisher looking at a
    copy its upheld report had cancelled was offered "Report" again: both could only be
    refused (ASSET_NOT_ON_SALE). The page now says what became of the asset instead."""
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    original = api.publish(publisher, pub_h, value=2)
    api.topup(buyer, buy_h, 10)
    bought(client, api, original, publisher, buyer, buy_h)
    copy = api.publish(buyer, buy_h, value=1)
    report = client.post("/assets/report", json={"originalAssetId": original, "copyAssetId": copy}, headers=pub_h)
    assert api.approve(report.json()["requestId"])["status"] == "committed"
    cancelled(client, api, original, publisher, pub_h)
    holder = new_http(client)
    page_login(holder, buyer)
    held = holder.get(f"/market/{original}").text
    assert f'action="/market/{original}/offer"' not in held and 'id="held-cancelled"' in held
    assert f'href="/market/{original}/download"' in held  # the copy stays the holder's
    reporter = new_http(client)
    page_login(reporter, publisher)
    seen = reporter.get(f"/market/{copy}").text
    assert f'action="/market/{copy}/report"' not in seen
    assert f"reported by {publisher} as a re-publication of" in seen and f'href="/market/{original}"' in seen
    # a copy on sale can still be reported, also from an original that is itself off sale now
    other = api.publish(buyer, buy_h, value=1)
    assert f'action="/market/{other}/report"' in reporter.get(f"/market/{other}").text
    again = client.post("/assets/report", json={"originalAssetId": original, "copyAssetId": other}, headers=pub_h)
    assert api.approve(again.json()["requestId"])["status"] == "committed"


def test_an_offer_to_no_one_names_the_missing_user_id(api, client):
    """An empty buyer on the offer form read " has no console account to accept the transfer"."""
    publisher, pub_h = api.register()
    holder, holder_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=0)
    bought(client, api, asset_id, publisher, holder, holder_h)
    for buyer in ("", "   "):
        offer = {"assetId": asset_id, "originOwnerId": holder, "currentOwnerId": buyer}
        response = client.post("/assets/exchange", json=offer, headers=holder_h)
        refused(response, 400, "BAD_ID")
        assert "buyer's user id" in response.json()["message"]
    http = new_http(client)
    page_login(http, holder)
    shown = http.post(f"/market/{asset_id}/offer", data={"buyer": "", "_csrf_token": csrf_of(http.get(f"/market/{asset_id}").text)})
    assert shown.status_code == 400 and "<code>BAD_ID</code>" in shown.text


def test_administrators_make_no_requests_and_take_no_transfer(api, client):
    """An administrator's login is no ledger account: its top-up, purchase, publication,
    cancellation or report was queued and could only fail USER_NOT_FOUND when approved."""
    publisher, pub_h = api.register()
    holder, holder_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=0)
    bought(client, api, asset_id, publisher, holder, holder_h)
    admin = api.admin()
    before = len(queued_by(client, api, "admin"))  # test_reviews.py queues one in its name by hand
    content = f"time,load_kw\n2024-04-01T00:00,{api.unique('')}\n".encode()
    info = api.upload(pub_h, content)
    tries = {
        "/users/topup": {"userId": "admin", "Token": 5},
        "/users/delete": {"userId": "admin"},
        "/assets/exchange": {"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": "admin"},
        "/assets/enroll": {"assetName": "Mine", "assetId": api.unique("adm"), "metadata": json.dumps({**info, "licence": "research use"}), "ownerId": "admin", "value": 1},
        "/assets/cancel": {"assetId": asset_id, "issuerId": "admin"},
        "/assets/report": {"originalAssetId": asset_id, "copyAssetId": asset_id},
    }
    for path, body in tries.items():
        refused(client.post(path, json=body, headers=admin), 403, "ADMIN_DOES_NOT_TRADE")
    offer = {"assetId": asset_id, "originOwnerId": holder, "currentOwnerId": "admin"}
    refused(client.post("/assets/exchange", json=offer, headers=holder_h), 403, "ADMIN_DOES_NOT_TRADE")
    assert len(queued_by(client, api, "admin")) == before and [r for r in queued_by(client, api, holder) if r["kind"] == "transfer"] == []
    # the publish form says so, and stores no file
    http = new_http(client)
    page_login(http, "admin", "admin-pass-123")
    content = f"time,load_kw\n2024-04-02T00:00,{api.unique('')}\n".encode()
    typed = {"asset_id": api.unique("adm"), "name": "Mine", "price": "1", "description": "", "licence": "research use"}
    shown = http.post("/publish", data={**typed, "_csrf_token": csrf_of(http.get("/publish").text)}, files={"file": ("load.csv", content, "text/csv")})
    assert shown.status_code == 403 and "<code>ADMIN_DOES_NOT_TRADE</code>" in shown.text
    assert not client.app.state.services.datasets.has(hashlib.sha256(content).hexdigest())


def test_a_closed_account_publishing_is_told_so_before_its_file_is_stored(api, client):
    user_id, headers = api.register()
    closing = client.post("/users/delete", json={"userId": user_id}, headers=headers)
    assert api.approve(closing.json()["requestId"])["status"] == "committed"
    http = new_http(client)
    page_login(http, user_id)
    content = f"time,load_kw\n2024-05-01T00:00,{api.unique('')}\n".encode()
    typed = {"asset_id": api.unique("closed"), "name": "Late", "price": "1", "description": "", "licence": "research use"}
    shown = http.post("/publish", data={**typed, "_csrf_token": csrf_of(http.get("/publish").text)}, files={"file": ("load.csv", content, "text/csv")})
    assert shown.status_code == 409 and "<code>ACCOUNT_CLOSED</code>" in shown.text
    assert not client.app.state.services.datasets.has(hashlib.sha256(content).hexdigest())  # it was stored before


def test_the_same_request_again_while_the_first_is_undecided_is_refused(api, client):
    """A double click on "Request purchase" queued two purchases; both dry runs said "would
    commit" and only one could. Top-ups may repeat."""
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=0)
    purchase = {"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}
    first = client.post("/assets/exchange", json=purchase, headers=buy_h)
    assert first.status_code == 202
    again = client.post("/assets/exchange", json=purchase, headers=buy_h)
    refused(again, 409, "DUPLICATE_REQUEST")
    assert first.json()["requestId"] in again.json()["message"]
    for _ in range(2):
        assert client.post("/users/topup", json={"userId": buyer, "Token": 5}, headers=buy_h).status_code == 202
    cancel = {"assetId": asset_id, "issuerId": publisher}
    assert client.post("/assets/cancel", json=cancel, headers=pub_h).status_code == 202
    refused(client.post("/assets/cancel", json=cancel, headers=pub_h), 409, "DUPLICATE_REQUEST")
    # once the first is decided, asking again is a new request
    assert client.post(f"/reviews/{first.json()['requestId']}/reject", json={"reason": "not now"}, headers=api.admin()).status_code == 200
    assert client.post("/assets/exchange", json=purchase, headers=buy_h).status_code == 202


def test_a_second_publication_under_ones_own_undecided_id_stores_no_file(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    page_login(http, user_id)
    typed = {"asset_id": api.unique("twice"), "name": "Twice", "price": "1", "description": "", "licence": "research use"}
    contents = [f"time,load_kw\n2024-06-0{n}T00:00,{api.unique('')}\n".encode() for n in (1, 2)]
    for n, content in enumerate(contents):
        sent = http.post("/publish", data={**typed, "_csrf_token": csrf_of(http.get("/publish").text)}, files={"file": ("load.csv", content, "text/csv")},
                         follow_redirects=False)
        assert sent.status_code == (303 if n == 0 else 409), sent.text
    assert "<code>DUPLICATE_REQUEST</code>" in sent.text
    assert not client.app.state.services.datasets.has(hashlib.sha256(contents[1]).hexdigest())


def test_the_asset_page_shows_an_undecided_purchase_instead_of_another_buy_button(api, client):
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=0)
    http = new_http(client)
    page_login(http, buyer)
    assert 'id="buy"' in http.get(f"/market/{asset_id}").text
    purchase = {"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}
    request_id = client.post("/assets/exchange", json=purchase, headers=buy_h).json()["requestId"]
    shown = http.get(f"/market/{asset_id}").text
    assert 'id="buy"' not in shown and f'href="/my/requests/{request_id}"' in shown and 'id="asked"' in shown
    assert client.post(f"/reviews/{request_id}/reject", json={"reason": "not now"}, headers=api.admin()).status_code == 200
    assert 'id="buy"' in http.get(f"/market/{asset_id}").text  # decided: it may be asked again
