"""The marketplace story through the JSON API: publish, buy a copy, transfer between holders,
cancel, history, download — every write reviewed and signed by an administrator."""

from __future__ import annotations

import hashlib
import json


def balance(client, user_id, headers):
    return client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"]


def test_publish_buy_transfer_cancel_and_download(api, client):
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    second, second_h = api.register()
    content = f"time,load_kw,meter\n2024-01-01T00:00,12.5,{publisher}\n2024-01-01T00:15,13.0,m1\n".encode()
    asset_id = api.publish(publisher, pub_h, content, value=30)

    asset = client.get("/assets/get", params={"assetId": asset_id}, headers=buy_h).json()
    assert asset["IssuerId"] == publisher and asset["IsValid"] is True and asset["Value"] == 30
    meta = json.loads(asset["Metadata"])
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert [c["name"] for c in meta["columns"]] == ["time", "load_kw", "meter"]
    assert meta["licence"] == "research use"

    api.topup(buyer, buy_h, 100)
    response = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}, headers=buy_h)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert api.approve(response.json()["requestId"])["status"] == "committed"
    assert balance(client, buyer, buy_h) == 70
    assert balance(client, publisher, pub_h) == 30

    # the buyer downloads exactly the bytes published
    download = client.get("/assets/download", params={"assetId": asset_id}, headers=buy_h)
    assert download.status_code == 200 and download.content == content

    # transfer between holders: the seller offers, the buyer accepts, an administrator approves
    api.topup(second, second_h, 50)
    offer = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": buyer, "currentOwnerId": second}, headers=buy_h)
    assert offer.status_code == 202, offer.text
    assert offer.json()["status"] == "awaiting_acceptance"
    request_id = offer.json()["requestId"]
    not_in_queue = client.get("/reviews", params={"status": "pending"}, headers=api.admin()).json()
    assert request_id not in [r["requestId"] for r in not_in_queue]
    accepted = client.post(f"/requests/{request_id}/accept", headers=second_h)
    assert accepted.status_code == 202 and accepted.json()["status"] == "pending"
    outcome = api.approve(request_id)
    assert outcome["status"] == "committed" and outcome["block"] is not None
    buyer_state = client.get("/users/get", params={"userId": buyer}, headers=buy_h).json()
    second_state = client.get("/users/get", params={"userId": second}, headers=second_h).json()
    assert asset_id not in buyer_state["Assets"] and asset_id in second_state["Assets"]
    assert buyer_state["Token"] == 70 + 30 and second_state["Token"] == 20
    assert client.get("/assets/download", params={"assetId": asset_id}, headers=buy_h).status_code == 403
    assert client.get("/assets/download", params={"assetId": asset_id}, headers=second_h).content == content

    history = client.get("/assets/exchange/history", params={"assetId": asset_id, "queryType": "all"}, headers=pub_h).json()
    assert [h["Type"] for h in history] == ["enroll", "exchange", "exchange"]
    enroll_only = client.get("/assets/exchange/history", params={"assetId": asset_id, "queryType": "enroll"}, headers=pub_h).json()
    assert len(enroll_only) == 1

    # cancel: new buyers are refused, holders keep it
    cancel = client.post("/assets/cancel", json={"assetId": asset_id, "issuerId": publisher}, headers=pub_h)
    assert cancel.status_code == 202
    assert api.approve(cancel.json()["requestId"])["status"] == "committed"
    assert client.get("/assets/get", params={"assetId": asset_id}, headers=pub_h).json()["IsValid"] is False
    late, late_h = api.register()
    api.topup(late, late_h, 100)
    refused = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": late}, headers=late_h)
    assert refused.status_code == 409  # no longer in the publisher's Issues
    assert client.get("/assets/download", params={"assetId": asset_id}, headers=second_h).status_code == 200


def test_republishing_a_bought_file_is_flagged_and_fails_on_the_ledger(api, client):
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    content = f"ts,v\n1,{api.unique('x')}\n".encode()
    asset_id = api.publish(publisher, pub_h, content, value=5)
    api.topup(buyer, buy_h, 10)
    buy = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}, headers=buy_h)
    api.approve(buy.json()["requestId"])
    info = api.upload(buy_h, content)
    metadata = json.dumps({**info, "description": "mine now", "licence": "any"})
    response = client.post(
        "/assets/enroll",
        json={"assetName": "Copy", "assetId": api.unique("c"), "metadata": metadata, "ownerId": buyer, "value": 1},
        headers=buy_h,
    )
    assert response.status_code == 202
    review = client.get("/reviews", params={"status": "pending", "requester": buyer}, headers=api.admin()).json()
    mine = next(r for r in review if r["requestId"] == response.json()["requestId"])
    assert any("Duplicate content" in w and asset_id in w for w in mine["warnings"])
    outcome = api.approve(mine["requestId"])
    assert outcome["status"] == "failed" and outcome["code"] == "DUPLICATE_CONTENT"
    assert outcome["message"]


def test_delete_user_cancels_its_assets(api, client):
    publisher, pub_h = api.register()
    asset_id = api.publish(publisher, pub_h)
    response = client.post("/users/delete", json={"userId": publisher}, headers=pub_h)
    assert response.status_code == 202
    assert api.approve(response.json()["requestId"])["status"] == "committed"
    state = client.get("/users/get", params={"userId": publisher}, headers=pub_h).json()
    assert state["Deleted"] is True and asset_id in state["UnIssues"]


def test_publisher_reports_a_buyers_republication_and_the_copy_is_cancelled(api, client):
    publisher, pub_h = api.register()
    buyer, buy_h = api.register()
    original = api.publish(publisher, pub_h, value=5)
    api.topup(buyer, buy_h, 10)
    buy = client.post("/assets/exchange", json={"assetId": original, "originOwnerId": publisher, "currentOwnerId": buyer}, headers=buy_h)
    assert api.approve(buy.json()["requestId"])["status"] == "committed"
    copy = api.publish(buyer, buy_h, value=1)  # a slightly altered file: a different hash
    # only the original's publisher may report (refused at once: the issuer of an asset never changes)
    stranger = client.post("/assets/report", json={"originalAssetId": original, "copyAssetId": copy}, headers=buy_h)
    assert stranger.status_code == 403 and stranger.json()["code"] == "NOT_ISSUER", stranger.text
    report = client.post("/assets/report", json={"originalAssetId": original, "copyAssetId": copy}, headers=pub_h)
    assert report.status_code == 202
    assert api.approve(report.json()["requestId"])["status"] == "committed"
    assert client.get("/assets/get", params={"assetId": copy}, headers=pub_h).json()["IsValid"] is False
    assert copy in client.get("/users/get", params={"userId": buyer}, headers=buy_h).json()["UnIssues"]
