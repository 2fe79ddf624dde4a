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
