"""The review desk: bulk approval that does not conflict with itself."""

from __future__ import annotations

from typing import Any


def topup_request(client: Any, user_id: str, headers: dict[str, str], amount: int) -> str:
    response = client.post("/users/topup", json={"userId": user_id, "Token": amount}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def test_ten_topups_by_one_user_approved_in_bulk_all_commit(api, client):
    user_id, headers = api.register()
    ids = [topup_request(client, user_id, headers, n + 1) for n in range(10)]
    response = client.post("/reviews/approve-bulk", json={"requestIds": ids}, headers=api.admin())
    assert response.status_code == 200, response.text
    results = response.json()
    assert [r["requestId"] for r in results] == ids
    assert [r["status"] for r in results] == ["committed"] * 10, results
    assert all(r["kind"] == "topup" and r["requester"] == user_id for r in results)
    assert client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == sum(range(1, 11))


def test_the_queue_shows_a_pending_purchases_warning_as_it_is_now(api, client):
    """A buyer below the price when asking, topped up since: the queue (API and page) no
    longer warns 'balance below the price', as the review page already did not."""
    publisher, pub_h = api.register()
    asset_id = api.publish(publisher, pub_h, value=40)
    buyer, buy_h = api.register()
    asked = client.post("/assets/exchange", json={"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}, headers=buy_h)
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["requestId"]
    admin = api.admin()

    def listed() -> list[str]:
        rows = client.get("/reviews", params={"status": "pending", "requester": buyer}, headers=admin).json()
        return [w for r in rows if r["requestId"] == request_id for w in r["warnings"]]

    assert any("below the price" in w for w in listed())
    api.topup(buyer, buy_h, 50)
    assert not any("below the price" in w for w in listed()), listed()
