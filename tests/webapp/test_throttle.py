"""Sign-in and sign-up throttles: growing delays (not lockouts) per account and per address,
429 + Retry-After, forwarded headers only from configured proxies, sign-ups per hour."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from webapp.app import create_app
from webapp.errors import TooManyAttempts
from webapp.settings import Settings
from webapp.throttle import ACCOUNT_RULE, DelayRule, LoginThrottle, SignupLimiter, client_address

PASSWORD = "user-pass-123"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_of(throttle: LoginThrottle, account: str, address: str) -> int:
    try:
        throttle.check(account, address)
    except TooManyAttempts as exc:
        return exc.retry_after_s
    return 0


def test_delays_grow_per_account_and_stay_capped():
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    waits = []
    for _ in range(40):
        clock.now += wait_of(throttle, "alice", f"10.0.0.{len(waits)}")  # each typo from a new address
        assert wait_of(throttle, "alice", f"10.0.0.{len(waits)}") == 0
        throttle.failed("alice", f"10.0.0.{len(waits)}")
        waits.append(wait_of(throttle, "alice", "192.168.1.1"))
    assert waits[: ACCOUNT_RULE.free] == [0] * ACCOUNT_RULE.free
    assert waits[ACCOUNT_RULE.free : ACCOUNT_RULE.free + 4] == [1, 2, 4, 8]
    # someone else's typos keep the owner waiting seconds, never minutes
    assert max(waits) == ACCOUNT_RULE.max_s <= 30
    assert wait_of(throttle, "bob", "192.168.1.1") == 0  # other accounts are untouched


def test_a_success_clears_its_account_but_no_address():
    clock = Clock()
    throttle = LoginThrottle(address_rule=DelayRule(free=2, base_s=60, max_s=60), clock=clock)
    for n in range(6):
        throttle.failed("carol", f"10.0.1.{n}")
    assert wait_of(throttle, "carol", "10.0.0.1") > 0
    for name in ("a1", "a2", "a3"):
        throttle.failed(name, "10.0.0.9")
    assert wait_of(throttle, "fresh", "10.0.0.9") == 60
    throttle.succeeded("carol")
    assert wait_of(throttle, "carol", "10.0.0.1") == 0
    assert wait_of(throttle, "fresh", "10.0.0.9") == 60  # the attacker's address keeps its delay
    clock.now += 901  # forgotten after a quiet quarter of an hour
    assert wait_of(throttle, "fresh", "10.0.0.9") == 0


def test_signup_limiter_counts_per_address_per_hour():
    clock = Clock()
    limiter = SignupLimiter(2, clock=clock)
    for _ in range(2):
        limiter.check("10.0.0.1")
        limiter.created("10.0.0.1")
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check("10.0.0.1")
    assert refused.value.code == "TOO_MANY_SIGNUPS" and 0 < refused.value.retry_after_s <= 3600
    limiter.check("10.0.0.2")
    clock.now += 3601
    limiter.check("10.0.0.1")


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    headers = {"x-forwarded-for": "6.6.6.6, 10.0.0.7"}
    assert client_address("203.0.113.5", headers, ()) == "203.0.113.5"
    assert client_address("127.0.0.1", headers, ()) == "127.0.0.1"  # loopback is not trusted by default
    assert client_address("127.0.0.1", headers, ("127.0.0.1",)) == "10.0.0.7"  # the hop the proxy saw
    assert client_address("127.0.0.1", headers, ("127.0.0.1", "10.0.0.7")) == "6.6.6.6"
    assert client_address("127.0.0.1", {}, ("127.0.0.1",)) == "127.0.0.1"
    assert Settings.from_env().trusted_proxies == ()


@pytest.fixture()
def console(network_dir, network, request) -> Iterator[TestClient[Any]]:
    """A console of its own (own throttles) on the shared network; `request.param` are Settings overrides."""
    overrides = getattr(request, "param", {})
    settings = Settings(fast_kdf=True, **{"signups_per_hour": 1_000, **overrides})
    with TestClient(app=create_app(network_dir, network=network, settings=settings)) as test_client:
        yield test_client


def login(client: TestClient[Any], user: str, password: str, via: str | None = None) -> Any:
    headers = {"x-forwarded-for": via} if via else {}
    return client.post("/auth/login", json={"username": user, "password": password}, headers=headers)


def until_not_throttled(client: TestClient[Any], user: str, password: str, via: str | None = None, deadline_s: float = 60.0) -> tuple[Any, list[int]]:
    """Retries while answered 429 (each waits for its Retry-After); returns the answer and the waits asked for."""
    waits: list[int] = []
    deadline = time.monotonic() + deadline_s
    while True:
        response = login(client, user, password, via)
        if response.status_code != 429:
            return response, waits
        assert response.json()["code"] == "TOO_MANY_ATTEMPTS"
        waits.append(int(response.headers["retry-after"]))
        assert time.monotonic() < deadline, waits
        time.sleep(min(0.2, waits[-1]))


@pytest.mark.parametrize("console", [{"trusted_proxies": ("testclient",)}], indirect=True)
def test_someone_elses_typos_delay_the_owner_by_seconds_not_minutes(console, api):
    user_id, _ = api.register(approve=False)
    services = console.app.state.services
    services.accounts.throttle = LoginThrottle(account_rule=DelayRule(free=1, base_s=1.0, max_s=2.0))
    for n in range(4):  # an attacker from four addresses
        response, waits = until_not_throttled(console, user_id, "wrong-password", via=f"10.9.0.{n}")
        assert response.status_code == 401 and all(w <= 2 for w in waits)
    refused = login(console, user_id, PASSWORD, via="10.8.0.1")
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 2
    started = time.monotonic()
    response, waits = until_not_throttled(console, user_id, PASSWORD, via="10.8.0.1")
    assert response.status_code == 200 and response.json()["token"]
    assert time.monotonic() - started < 10 and all(w <= 2 for w in waits)


def test_an_address_is_throttled_and_forwarded_headers_do_not_escape_it(console, api):
    user_id, _ = api.register(approve=False)
    services = console.app.state.services
    services.accounts.throttle = LoginThrottle(address_rule=DelayRule(free=2, base_s=60.0, max_s=60.0))
    for n in range(3):
        assert login(console, f"nobody{n}x", "wrong-password").status_code == 401
    for via in (None, "1.2.3.4", "127.0.0.1"):
        refused = login(console, user_id, PASSWORD, via=via)
        assert refused.status_code == 429, via
        assert refused.json()["code"] == "TOO_MANY_ATTEMPTS" and 55 <= int(refused.headers["retry-after"]) <= 60


@pytest.mark.parametrize("console", [{"trusted_proxies": ("testclient",)}], indirect=True)
def test_behind_a_trusted_proxy_addresses_are_told_apart_and_a_success_resets_no_other(console, api):
    user_id, _ = api.register(approve=False)
    services = console.app.state.services
    services.accounts.throttle = LoginThrottle(address_rule=DelayRule(free=2, base_s=60.0, max_s=60.0))
    for n in range(3):
        assert login(console, f"nobody{n}y", "wrong-password", via="10.0.0.66").status_code == 401
    assert login(console, user_id, PASSWORD, via="10.0.0.66").status_code == 429
    assert login(console, user_id, PASSWORD, via="10.0.0.77").status_code == 200
    assert login(console, user_id, PASSWORD, via="10.0.0.66").status_code == 429


@pytest.mark.parametrize("console", [{"signups_per_hour": 2}], indirect=True)
def test_sign_up_is_rate_limited_per_address(console):
    import uuid

    def register() -> Any:
        user_id = f"s{uuid.uuid4().hex[:8]}"
        return console.post("/users/register", json={"userName": f"Name {user_id}", "userId": user_id, "password": PASSWORD})

    assert [register().status_code for _ in range(2)] == [202, 202]
    refused = register()
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_SIGNUPS"
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert Settings().signups_per_hour == 5
