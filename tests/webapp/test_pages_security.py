"""Pages through the test client: CSRF on forms, escaping, dataset access, path-like ids, 413."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient


def csrf_of(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "form without a CSRF token"
    return match.group(1)


@pytest.fixture()
def browser_like(client) -> TestClient[Any]:
    """A separate cookie jar on the same app (sessions live in the app)."""
    fresh = TestClient(app=client.app)
    fresh.__enter__ = None  # type: ignore[assignment]
    return fresh


def page_login(http: TestClient[Any], username: str, password: str = "user-pass-123") -> str:
    token = csrf_of(http.get("/login").text)
    response = http.post("/login", data={"username": username, "password": password, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return token


def new_http(client) -> TestClient[Any]:
    http = TestClient(app=client.app, base_url="http://testserver.local")
    http.cookies.clear()
    return http


def test_form_post_without_csrf_token_is_refused(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    http.get("/login")
    response = http.post("/login", data={"username": user_id, "password": "user-pass-123"}, follow_redirects=False)
    assert response.status_code == 403
    assert "security token" in response.text and "Traceback" not in response.text
    token = page_login(http, user_id)
    refused = http.post("/account/topup", data={"amount": "5"}, follow_redirects=False)
    assert refused.status_code == 403
    accepted = http.post("/account/topup", data={"amount": "5", "_csrf_token": token}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"].startswith("/my/requests/")


def test_session_cookie_flags(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    token = csrf_of(http.get("/login").text)
    response = http.post("/login", data={"username": user_id, "password": "user-pass-123", "_csrf_token": token}, follow_redirects=False)
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("gl_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("SameSite=Lax", "SameSite=lax")
    logout = http.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert logout.status_code == 303
    assert http.get("/dashboard", follow_redirects=False).status_code in (302, 303, 307)


def test_script_in_an_asset_name_is_shown_as_text(api, client):
    user_id, headers = api.register()
    evil = "<script>alert(1)</script>"
    info = api.upload(headers, b"a,b\n1,2\n" + api.unique("r").encode() + b",3\n")
    import json

    metadata = json.dumps({**info, "description": "<img src=x onerror=alert(2)>", "licence": "x"})
    asset_id = api.unique("xss")
    response = client.post("/assets/enroll", json={"assetName": evil, "assetId": asset_id, "metadata": metadata, "ownerId": user_id, "value": 1}, headers=headers)
    assert api.approve(response.json()["requestId"])["status"] == "committed"
    http = new_http(client)
    page_login(http, user_id)
    html = http.get(f"/market/{asset_id}").text
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert evil not in http.get("/market").text


def test_another_users_session_cannot_download_a_dataset_it_does_not_hold(api, client):
    publisher, pub_h = api.register()
    stranger, _ = api.register()
    asset_id = api.publish(publisher, pub_h)
    http = new_http(client)
    page_login(http, stranger)
    response = http.get(f"/market/{asset_id}/download")
    assert response.status_code == 403 and "publisher and current holders" in response.text
    owner = new_http(client)
    page_login(owner, publisher)
    assert owner.get(f"/market/{asset_id}/download").status_code == 200


@pytest.mark.parametrize("bad", ["..%2F..%2Fconsole%2Fdataset.key", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e"])
def test_path_like_ids_cannot_read_outside_the_store(api, client, bad):
    user_id, headers = api.register()
    response = client.get(f"/assets/download?assetId={bad}", headers=headers)
    assert response.status_code in (400, 404) and set(response.json()) == {"code", "message"}
    http = new_http(client)
    page_login(http, user_id)
    page = http.get(f"/market/{bad}/download")
    assert page.status_code in (400, 404) and "Traceback" not in page.text


def test_dataset_store_refuses_ids_that_are_not_hashes(client):
    from webapp.errors import BadInput

    store = client.app.state.services.datasets
    for bad in ("../dataset.key", "/etc/passwd", "a" * 63, "A" * 64, "../" + "a" * 61):
        with pytest.raises(BadInput):
            store.get(bad)


def test_stored_datasets_are_encrypted_at_rest(api, client):
    _, headers = api.register()
    content = b"secret_col,v\n" + api.unique("plaintext-marker-").encode() + b",1\n"
    info = api.upload(headers, content)
    stored = (client.app.state.services.datasets.root / info["sha256"]).read_bytes()
    assert b"plaintext-marker" not in stored and b"secret_col" not in stored


def test_oversized_publish_form_is_refused_with_413(api, client, settings):
    user_id, _ = api.register()
    http = new_http(client)
    token = page_login(http, user_id)
    big = b"a,b\n" + b"1,2\n" * (settings.dataset_bytes_max // 4 + 10)
    response = http.post(
        "/publish",
        data={"_csrf_token": token, "name": "big", "asset_id": api.unique("big"), "price": "1", "licence": "x"},
        files={"file": ("big.csv", big, "text/csv")},
    )
    assert response.status_code == 413 and "at most" in response.text


def test_refused_file_type_is_named_on_the_page(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    token = page_login(http, user_id)
    response = http.post(
        "/publish",
        data={"_csrf_token": token, "name": "x", "asset_id": api.unique("t"), "price": "1", "licence": "x"},
        files={"file": ("sheet.xlsx", b"PK..", "application/vnd.ms-excel")},
    )
    assert response.status_code == 415 and "sheet.xlsx" in response.text and ".csv" in response.text


def test_pages_render_for_users_and_admins(api, client):
    user_id, headers = api.register()
    asset_id = api.publish(user_id, headers)
    http = new_http(client)
    page_login(http, user_id)
    for path in ("/dashboard", "/market", f"/market/{asset_id}", "/publish", "/explorer", "/explorer/blocks/0", "/explorer/history?key=asset/" + asset_id):
        response = http.get(path)
        assert response.status_code == 200, (path, response.text[:500])
    assert http.get("/admin/reviews").status_code == 403
    admin = new_http(client)
    page_login(admin, "admin", "admin-pass-123")
    for path in ("/admin/reviews", "/admin/audit", "/admin/admins", "/admin/reviews?status=committed&kind=enroll"):
        assert admin.get(path).status_code == 200, path
    started = admin.post("/explorer/verify", data={"_csrf_token": csrf_of(admin.get("/explorer").text)}, follow_redirects=False)
    assert started.status_code == 303  # runs in the background (tests/webapp/test_explorer_pages.py)
    assert client.app.state.services.verifier.wait(60)
    assert "The ledger is intact" in admin.get("/explorer").text


def test_an_upload_past_the_body_limit_says_the_limit_and_leads_back_to_the_form(api, client, settings):
    """Past the request body limit (before the publish handler runs) the page said only "The
    upload is larger than the console accepts.", with no limit and no way back but Home."""
    from webapp.settings import REQUEST_BODY_BYTES_MAX

    user_id, headers = api.register()
    http = new_http(client)
    token = page_login(http, user_id)
    huge = b"a,b\n" + b"1,2\n" * (REQUEST_BODY_BYTES_MAX // 4 + 10)
    response = http.post(
        "/publish", data={"_csrf_token": token, "name": "huge", "asset_id": api.unique("huge"), "price": "1", "licence": "x"},
        files={"file": ("huge.csv", huge, "text/csv")}, headers={"referer": "http://testserver.local/publish"},
    )
    assert response.status_code == 413 and "<code>TOO_LARGE</code>" in response.text
    assert f"at most 64.0 KB ({settings.dataset_bytes_max} bytes)" in response.text
    assert 'href="/publish" id="back"' in response.text
    api_refused = client.post("/datasets", files={"file": ("huge.csv", huge, "text/csv")}, headers=headers)
    assert api_refused.status_code == 413 and f"({settings.dataset_bytes_max} bytes)" in api_refused.json()["message"]


def test_an_error_page_after_a_form_links_back_to_the_forms_page(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    token = page_login(http, user_id)
    refused = http.post("/account/topup", data={"_csrf_token": token, "amount": "0"}, headers={"referer": "http://testserver.local/dashboard"})
    assert refused.status_code == 400 and 'href="/dashboard" id="back"' in refused.text
    for referer in ("http://evil.example/dashboard", "http://testserver.local//evil.example/x"):  # never off the console
        refused = http.post("/account/topup", data={"_csrf_token": token, "amount": "0"}, headers={"referer": referer})
        assert 'id="back"' not in refused.text, referer
    assert 'id="back"' not in http.get("/market/no-such-asset").text  # a page asked for: Home is enough
