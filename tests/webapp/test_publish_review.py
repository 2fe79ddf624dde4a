"""Reviewing a publication: labelled fields, the dataset's preview and file for the reviewer,
and a file rejected or refused before says so with the reason."""

from __future__ import annotations

import json
from typing import Any

from tests.webapp.conftest import ADMIN_PASSWORD
from tests.webapp.test_pages_security import new_http, page_login


def enroll_request(api: Any, user_id: str, headers: dict[str, str], content: bytes, asset_id: str | None = None, **fields: Any) -> str:
    info = api.upload(headers, content)
    meta = {**info, "description": fields.get("description", "feeder load, 15 min"), "licence": fields.get("licence", "CC-BY 4.0"), "filename": "feeder.csv"}
    body = {"assetName": fields.get("name", "Feeder load"), "assetId": asset_id or api.unique("a"), "metadata": json.dumps(meta), "ownerId": user_id, "value": fields.get("price", 1250)}
    response = api.client.post("/assets/enroll", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def admin_http(client: Any) -> Any:
    http = new_http(client)
    page_login(http, "admin", ADMIN_PASSWORD)
    return http


def test_a_publication_is_shown_as_labelled_fields_with_preview_and_download(api, client):
    user_id, headers = api.register()
    marker = api.unique("m")
    content = f"time,load_kw,feeder\n2024-01-01T00:00,12.5,{marker}\n2024-01-01T00:15,13.0,{marker}\n".encode()
    request_id = enroll_request(api, user_id, headers, content, name="Feeder <b>load</b>", licence="CC-BY 4.0", price=1250)
    page = admin_http(client).get(f"/admin/reviews/{request_id}").text
    for label in ("Name", "Price", "Licence", "Description", "Columns", "Preview (first rows)"):
        assert f">{label}<" in page, label
    assert "Feeder &lt;b&gt;load&lt;/b&gt;" in page  # escaped
    assert "1,250 tokens" in page and "CC-BY 4.0" in page and "feeder load, 15 min" in page
    assert 'id="pub-preview"' in page and marker in page and "load_kw" in page
    assert "2 rows" in page
    publication = page.split('id="dry-run"')[0]  # the dry run shows the records it would write, decoded
    assert "&#34;sha256&#34;" not in publication  # the metadata is not shown as one JSON blob
    assert f'href="/admin/reviews/{request_id}/dataset"' in page
    file = admin_http(client).get(f"/admin/reviews/{request_id}/dataset")
    assert file.status_code == 200 and file.content == content
    api_file = client.get(f"/reviews/{request_id}/dataset", headers=api.admin())
    assert api_file.status_code == 200 and api_file.content == content
    assert "attachment" in api_file.headers["content-disposition"] and api_file.headers["content-disposition"].endswith('.csv"')
    refused = client.get(f"/reviews/{request_id}/dataset", headers=headers)
    assert refused.status_code == 403


def test_only_publications_have_a_dataset(api, client):
    user_id, headers = api.register()
    response = client.post("/users/topup", json={"userId": user_id, "Token": 5}, headers=headers)
    answer = client.get(f"/reviews/{response.json()['requestId']}/dataset", headers=api.admin())
    assert answer.status_code == 400 and answer.json()["code"] == "NOT_A_PUBLICATION"


def test_a_file_rejected_before_says_so_with_the_reason(api, client):
    first, first_h = api.register()
    content = f"time,load_kw\n2024-03-01T00:00,{api.unique('')}\n".encode()
    earlier = enroll_request(api, first, first_h, content)
    reason = "readings copied from the DSO's public feed"
    rejected = client.post(f"/reviews/{earlier}/reject", json={"reason": reason}, headers=api.admin())
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    second, second_h = api.register()
    again = enroll_request(api, second, second_h, content)
    warnings = client.get(f"/requests/{again}", headers=second_h).json()["warnings"]
    said = [w for w in warnings if "rejected before" in w]
    assert len(said) == 1 and reason in said[0] and earlier in said[0] and "admin" in said[0], warnings
    page = admin_http(client).get(f"/admin/reviews/{again}").text
    assert "rejected-before" in page and "readings copied from the DSO&#39;s public feed" in page
    # a file nobody refused carries no such warning
    fresh = enroll_request(api, second, second_h, f"time,load_kw\n2024-03-02T00:00,{api.unique('')}\n".encode())
    assert not [w for w in client.get(f"/requests/{fresh}", headers=second_h).json()["warnings"] if "before" in w]
