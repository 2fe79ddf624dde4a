"""A bounded schemathesis run over the API document against a live console (uvicorn on a free
loopback port, the shared real network): no server error, every status and body as documented."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_console(network_dir, network, settings) -> Iterator[str]:
    import uvicorn

    from webapp.app import create_app

    app = create_app(network_dir, network=network, settings=settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning", lifespan="on", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def api_schema(live_console):
    return schemathesis.openapi.from_url(f"{live_console}/schema/openapi.json")


@pytest.fixture(scope="module")
def tokens(api, live_console) -> dict[str, object]:
    """Sessions of the live console (its own registry): a member, an administrator, and spares for logout,
    all opened before the fuzzing of /auth/login earns this address a delay."""
    import httpx

    user_id, _ = api.register()

    def login(username: str, password: str) -> str:
        answer = httpx.post(f"{live_console}/auth/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return f"Bearer {answer.json()['token']}"

    return {
        "user": login(user_id, "user-pass-123"),
        "admin": login("admin", "admin-pass-123"),
        "spares": [login(user_id, "user-pass-123") for _ in range(EXAMPLES_PER_OPERATION * 2)],
    }


def bearer_for(case, tokens) -> str:
    """An administrator's token for /reviews; a spare session for logout (so the others stay valid)."""
    if case.path.startswith("/reviews"):
        return str(tokens["admin"])
    if case.path == "/auth/logout":
        spares = tokens["spares"]
        assert isinstance(spares, list)
        return str(spares.pop() if len(spares) > 1 else spares[0])
    return str(tokens["user"])


def test_api_answers_as_documented(api_schema, live_console, tokens):
    """Each operation of the document gets EXAMPLES_PER_OPERATION generated requests (hypothesis,
    derandomized so a failure replays); a user's token, an administrator's for /reviews."""
    tried: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def run(case) -> None:
            case.call_and_validate(base_url=live_console, headers={"Authorization": bearer_for(case, tokens)}, checks=CHECKS)
            tried[case.operation.label] = tried.get(case.operation.label, 0) + 1

        run()
    print("schemathesis tried", tried)
    assert len(tried) >= 20 and sum(tried.values()) >= 20 * EXAMPLES_PER_OPERATION // 2, tried
