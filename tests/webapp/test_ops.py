"""Health, metrics, request ids and the offline OpenAPI document."""


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok" and response.json()["peers"] == 4


def test_metrics_expose_queue_depth_decisions_height_and_codes(api, client):
    user_id, headers = api.register()
    client.post("/users/topup", json={"userId": user_id, "Token": 3}, headers=headers)
    text = client.get("/metrics").text
    for name in (
        "gridledger_review_queue_depth",
        "gridledger_review_decision_seconds_bucket",
        "gridledger_ledger_height",
        'gridledger_console_transactions_total{code="VALID"}',
        "gridledger_console_http_requests_total",
    ):
        assert name in text, name
    # ledger-wide counts come from a peer's commit events, not only what the console submitted
    assert 'gridledger_ledger_transactions_total{code="VALID"}' in text


def test_request_id_is_returned_and_kept(client):
    assert client.get("/index", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/index").headers["x-request-id"]) == 32


def test_openapi_document_and_offline_page(client):
    document = client.get("/schema/openapi.json").json()
    paths = document["paths"]
    for path in ("/index", "/users/register", "/users/get", "/users/topup", "/users/delete", "/assets/get", "/assets/enroll",
                 "/assets/exchange", "/assets/cancel", "/assets/exchange/history", "/auth/login", "/requests/{request_id}",
                 "/reviews", "/reviews/{request_id}/approve", "/reviews/{request_id}/reject"):
        assert path in paths, path
    assert "/dashboard" not in paths
    page = client.get("/schema")
    assert page.status_code == 200 and "/users/register" in page.text
    assert "cdn" not in page.text.lower() and "<script" not in page.text.lower()
