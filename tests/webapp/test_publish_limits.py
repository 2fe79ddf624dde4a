"""Publishing input limits: every upload or metadata that broke something before is a 400
with a stable code, and nothing of it is stored or queued.

These run on a console of their own with the default 5 MB upload limit: a CSV cell over the
csv module's field limit and a 100,000-deep JSON file are larger than the shared console's
small test limit."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledger.node.network import Network
from tests.webapp.conftest import Api
from webapp.app import create_app
from webapp.datasets import JSON_DEPTH_MAX, download_extension
from webapp.settings import DATASET_BYTES_MAX, Settings

HEADER_INJECTION = 'csv"\r\nX-Injected: 1'


@pytest.fixture(scope="module")
def big_client(network_dir: Path, network: Network) -> Iterator[TestClient[Any]]:
    settings = Settings(fast_kdf=True, dataset_bytes_max=DATASET_BYTES_MAX, signups_per_hour=1_000_000)
    with TestClient(app=create_app(network_dir, network=network, settings=settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def publisher(big_client: TestClient[Any]) -> tuple[Api, str, dict[str, str]]:
    api = Api(big_client)
    user_id, headers = api.register()
    return api, user_id, headers


def stored(client: TestClient[Any], content: bytes) -> bool:
    return client.app.state.services.datasets.has(hashlib.sha256(content).hexdigest())


def requests_of(api: Api, user_id: str) -> list[dict[str, Any]]:
    response = api.client.get("/reviews", params={"status": "", "requester": user_id}, headers=api.admin())
    assert response.status_code == 200, response.text
    return list(response.json())


BAD_UPLOADS = {
    "CSV_FIELD_TOO_LARGE": ("wide.csv", b"id,blob\n1," + b"x" * (csv.field_size_limit() + 1) + b"\n"),
    "JSON_TOO_DEEP": ("deep.json", b"[" * 100_000 + b"]" * 100_000),
    "NO_DATA_ROWS": ("header.csv", b"time,load_kw\n"),
    "NUL_BYTES": ("nul.csv", b"time,load_kw\n2024-01-01T00:00,1\x002\n"),
}


@pytest.mark.parametrize("code", sorted(BAD_UPLOADS))
def test_uploads_that_gave_500_or_slipped_through_are_400_with_a_code_and_not_stored(big_client, publisher, code):
    _, _, headers = publisher
    name, content = BAD_UPLOADS[code]
    assert len(content) <= DATASET_BYTES_MAX  # refused for what it is, not for its size
    response = big_client.post("/datasets", files={"file": (name, content, "text/plain")}, headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code and body["message"], body
    assert not stored(big_client, content)


def test_json_nested_below_the_parser_limit_but_past_the_depth_limit_is_refused(big_client, publisher):
    _, _, headers = publisher
    deep_value = "[" * (JSON_DEPTH_MAX + 1) + "]" * (JSON_DEPTH_MAX + 1)
    content = f'[{{"time": "2024-01-01", "load_kw": {deep_value}}}]'.encode()
    response = big_client.post("/datasets", files={"file": ("deepish.json", content, "application/json")}, headers=headers)
    assert response.status_code == 400 and response.json()["code"] == "JSON_TOO_DEEP", response.text
    flat = b'[{"time": "2024-01-01", "load_kw": 3}]'
    assert big_client.post("/datasets", files={"file": ("flat.json", flat, "application/json")}, headers=headers).status_code == 201


def test_a_header_injecting_format_is_refused_and_nothing_is_queued(big_client, publisher):
    api, user_id, headers = publisher
    info = api.upload(headers, b"time,load_kw\n2024-01-01T00:00,7\n")
    before = len(requests_of(api, user_id))
    for fmt in (HEADER_INJECTION, "exe", "CSV", ""):
        metadata = json.dumps({**info, "format": fmt, "description": "load", "licence": "research use"})
        response = big_client.post(
            "/assets/enroll",
            json={"assetName": "Load", "assetId": api.unique("a"), "metadata": metadata, "ownerId": user_id, "value": 5},
            headers=headers,
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] in ("BAD_FORMAT", "BAD_METADATA"), response.text
    assert len(requests_of(api, user_id)) == before  # nothing half-applied: no request was queued
    metadata = json.dumps({**info, "description": "load", "licence": "research use"})
    ok = big_client.post(
        "/assets/enroll",
        json={"assetName": "Load", "assetId": api.unique("a"), "metadata": metadata, "ownerId": user_id, "value": 5},
        headers=headers,
    )
    assert ok.status_code == 202, ok.text


def test_downloads_are_named_only_with_an_allowed_format():
    assert download_extension({"format": "csv"}) == "csv"
    assert download_extension({"format": "json"}) == "json"
    assert download_extension({"format": HEADER_INJECTION}) == "bin"
    assert download_extension({}) == "bin"


def test_a_refused_publication_is_shown_on_the_form_with_what_was_typed_and_stores_nothing(big_client, publisher):
    """Not an error page that loses the name, price, description and licence; and a bad price
    is refused before the file is stored (it was stored, then the request refused)."""
    from tests.webapp.test_pages_security import csrf_of, new_http

    api, user_id, _ = publisher
    http = new_http(big_client)
    token = csrf_of(http.get("/login").text)
    assert http.post("/login", data={"username": user_id, "password": "user-pass-123", "_csrf_token": token}, follow_redirects=False).status_code == 303
    typed = {"asset_id": api.unique("kept"), "name": "Kept name", "description": "kept <b>description</b>", "licence": "Kept licence"}
    cases = (
        ("NO_DATA_ROWS", b"time,load_kw\n", "12"),
        ("BAD_AMOUNT", f"time,load_kw\n2024-01-01T00:00,{api.unique('')}\n".encode(), "-3"),
    )
    for code, content, price in cases:
        form = {**typed, "price": price, "_csrf_token": csrf_of(http.get("/publish").text)}
        refused = http.post("/publish", data=form, files={"file": ("load.csv", content, "text/csv")})
        assert refused.status_code == 400, refused.text[:300]
        page = refused.text
        assert f"<code>{code}</code>" in page and 'id="form-error"' in page and 'action="/publish"' in page
        assert f'value="{typed["asset_id"]}"' in page and 'value="Kept name"' in page and f'value="{price}"' in page
        assert "kept &lt;b&gt;description&lt;/b&gt;</textarea>" in page and 'value="Kept licence"' in page
        assert not stored(big_client, content), code

