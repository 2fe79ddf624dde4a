"""Hardening: security headers on every response, the session cookie's Secure flag, 405 with
Allow, and an API document that names every refusal with its {code, message} body."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from test_pages_security import csrf_of

from webapp.app import create_app
from webapp.settings import Settings


def assert_hardened(response: Any) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp, csp
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy") == "same-origin"


def test_security_headers_on_pages_api_errors_and_static(api, client):
    _, headers = api.register()
    for response in (
        client.get("/login"),
        client.get("/dashboard", follow_redirects=False),  # a redirect
        client.get("/index"),
        client.get("/users/get", params={"userId": "x"}),  # a 401 of the API
        client.get("/no/such/page"),  # a 404 no route matched
        client.put("/users/topup", json={}),  # a 405
        client.get("/static/console.css"),
        client.get("/schema/openapi.json"),
        client.get("/schema"),
        client.get("/healthz"),
        client.get("/assets/get", params={"assetId": "nope"}, headers=headers),
    ):
        assert_hardened(response)


def test_405_carries_allow(client):
    response = client.put("/users/topup", json={})
    assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in response.headers["allow"]


def session_cookie(http: TestClient[Any], username: str, password: str, headers: dict[str, str] | None = None) -> str:
    form = http.get("/login")
    token = csrf_of(form.text)
    # a Secure CSRF cookie is not sent back over plain http by the client: hand it back explicitly
    csrf_cookie = form.cookies.get("csrftoken") or http.cookies.get("csrftoken")
    extra = {**(headers or {}), "cookie": f"csrftoken={csrf_cookie}"}
    response = http.post("/login", data={"username": username, "password": password, "_csrf_token": token}, headers=extra, follow_redirects=False)
    assert response.status_code == 303, response.text
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("gl_session="))


@pytest.fixture()
def console(network_dir, network, request) -> Any:
    settings = Settings(fast_kdf=True, signups_per_hour=1_000, **getattr(request, "param", {}))
    with TestClient(app=create_app(network_dir, network=network, settings=settings)) as test_client:
        yield test_client


def test_session_cookie_is_not_secure_on_plain_http_by_default(console, api):
    user_id, _ = api.register(approve=False)
    http = TestClient(app=console.app, base_url="http://testserver.local")
    assert "Secure" not in session_cookie(http, user_id, "user-pass-123")


def test_session_cookie_is_secure_over_https(console, api):
    user_id, _ = api.register(approve=False)
    http = TestClient(app=console.app, base_url="https://testserver.local")
    assert "Secure" in session_cookie(http, user_id, "user-pass-123")


@pytest.mark.parametrize("console", [{"cookie_secure": True}], indirect=True)
def test_session_cookie_is_secure_when_configured(console, api, monkeypatch):
    monkeypatch.setenv("GRIDLEDGER_COOKIE_SECURE", "1")
    assert Settings.from_env().cookie_secure
    user_id, _ = api.register(approve=False)
    http = TestClient(app=console.app, base_url="http://testserver.local")
    assert "Secure" in session_cookie(http, user_id, "user-pass-123")


@pytest.mark.parametrize("console", [{"trusted_proxies": ("testclient",)}], indirect=True)
def test_session_cookie_is_secure_behind_a_trusted_https_proxy(console, api):
    user_id, _ = api.register(approve=False)
    http = TestClient(app=console.app, base_url="http://testserver.local")
    assert "Secure" in session_cookie(http, user_id, "user-pass-123", {"x-forwarded-proto": "https"})


def test_forwarded_proto_from_an_untrusted_peer_changes_nothing(console, api):
    user_id, _ = api.register(approve=False)
    http = TestClient(app=console.app, base_url="http://testserver.local")
    assert "Secure" not in session_cookie(http, user_id, "user-pass-123", {"x-forwarded-proto": "https"})


def test_api_document_names_refusals_202_writes_and_body_fields(client):
    document = client.get("/schema/openapi.json").json()
    paths = document["paths"]
    for path in ("/users/register", "/users/topup", "/users/delete", "/assets/enroll", "/assets/exchange", "/assets/cancel", "/assets/report"):
        responses = paths[path]["post"]["responses"]
        assert "202" in responses and "201" not in responses, path
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert {"401", "403", "404"} <= set(paths["/users/get"]["get"]["responses"])
    assert "429" in paths["/auth/login"]["post"]["responses"]
    topup = document["components"]["schemas"]["TopupBody"]
    assert set(topup["properties"]) == {"userId", "Token"}


def test_pages_and_api_answers_are_not_kept_in_the_browser_cache(api, client):
    """After logout, Back must ask the server again (and land on the login), not replay a
    cached page with the last person's balance; only the shared stylesheet may be cached."""
    _, headers = api.register()
    for response in (
        client.get("/dashboard", follow_redirects=False),
        client.get("/login"),
        client.get("/users/get", params={"userId": "x"}, headers=headers),
        client.get("/no/such/page"),
    ):
        assert response.headers.get("cache-control") == "no-store", (response.request.url, response.headers)
    assert client.get("/static/console.css").headers.get("cache-control") != "no-store"


def test_head_is_answered_as_get_without_a_body(client):
    """Every page and /healthz answered HEAD 405 (an uptime check probing with HEAD saw the
    console down); the server wraps the app in webapp.head_requests.answer_head."""
    import asyncio

    import httpx

    from webapp.head_requests import answer_head

    async def probe(method: str, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=answer_head(client.app))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
            return await http.request(method, path)

    for path in ("/healthz", "/login"):
        head, get = asyncio.run(probe("HEAD", path)), asyncio.run(probe("GET", path))
        assert head.status_code == get.status_code == 200, (path, head.status_code)
        assert head.content == b"" and get.content and head.headers["content-type"] == get.headers["content-type"]
    assert asyncio.run(probe("HEAD", "/dashboard")).status_code in (302, 303, 307)  # as GET: to the login
    assert client.head("/login").status_code == 405  # the app alone: what the wrapper is for
