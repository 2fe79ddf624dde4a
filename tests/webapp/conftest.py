"""Fixtures for the console's API tests: one real network (init_network in a temporary
directory) per session, a console app on it, and helpers to sign up, log in and approve."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRIDLEDGER_FAST_KDF", "1")

from litestar.testing import TestClient

from ledger.node.init import init_network
from ledger.node.network import Network
from ledger.node.spec import default_config_path
from webapp.app import create_app
from webapp.settings import Settings

ADMIN_PASSWORD = "admin-pass-123"
USER_PASSWORD = "user-pass-123"
SMALL_DATASET_BYTES_MAX = 64 * 1024


@pytest.fixture(scope="session")
def network_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("gridledger")
    init_network(default_config_path(), data_dir, admin_password=ADMIN_PASSWORD)
    return data_dir


@pytest.fixture(scope="session")
def network(network_dir: Path) -> Iterator[Network]:
    # as `gridledger up` runs it (network.yaml: embedded.peer_processes): each peer its own process
    net = Network.open(network_dir, peer_processes=True)
    yield net
    net.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    # every test signs up from the test client's one address: no sign-up limit here (tests/webapp/test_throttle.py has its own app)
    return Settings(fast_kdf=True, dataset_bytes_max=SMALL_DATASET_BYTES_MAX, warn_amount_above_tokens=5_000, signups_per_hour=1_000_000)


@pytest.fixture(scope="session")
def client(network_dir: Path, network: Network, settings: Settings) -> Iterator[TestClient[Any]]:
    app = create_app(network_dir, network=network, settings=settings)
    with TestClient(app=app) as test_client:
        yield test_client


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Api:
    """Thin helper over the JSON API, as a script would use it."""

    unique = staticmethod(unique)

    def __init__(self, client: TestClient[Any]) -> None:
        self.client = client

    def login(self, username: str, password: str = USER_PASSWORD) -> dict[str, str]:
        response = self.client.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def admin(self) -> dict[str, str]:
        return self.login("admin", ADMIN_PASSWORD)

    def approve(self, request_id: str, admin: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.post(f"/reviews/{request_id}/approve", headers=admin or self.admin())
        assert response.status_code == 200, response.text
        return response.json()

    def register(self, user_id: str | None = None, *, approve: bool = True) -> tuple[str, dict[str, str]]:
        user_id = user_id or unique("u")
        response = self.client.post("/users/register", json={"userName": f"Name {user_id}", "userId": user_id, "password": USER_PASSWORD})
        assert response.status_code == 202, response.text
        if approve:
            assert self.approve(response.json()["requestId"])["status"] == "committed"
        return user_id, self.login(user_id)

    def topup(self, user_id: str, headers: dict[str, str], amount: int) -> None:
        response = self.client.post("/users/topup", json={"userId": user_id, "Token": amount}, headers=headers)
        assert response.status_code == 202, response.text
        assert self.approve(response.json()["requestId"])["status"] == "committed"

    def upload(self, headers: dict[str, str], content: bytes, name: str = "load.csv") -> dict[str, Any]:
        response = self.client.post("/datasets", files={"file": (name, content, "text/csv")}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    def publish(self, user_id: str, headers: dict[str, str], content: bytes | None = None, value: int = 10) -> str:
        import json

        content = content or f"time,load_kw\n2024-01-01T00:00,{uuid.uuid4().int % 10**12}\n".encode()  # unique: re-publishing one content is DUPLICATE_CONTENT
        info = self.upload(headers, content)
        metadata = json.dumps({**info, "description": "load curve", "licence": "research use"})
        asset_id = unique("a")
        response = self.client.post(
            "/assets/enroll",
            json={"assetName": "Load", "assetId": asset_id, "metadata": metadata, "ownerId": user_id, "value": value},
            headers=headers,
        )
        assert response.status_code == 202, response.text
        outcome = self.approve(response.json()["requestId"])
        assert outcome["status"] == "committed", outcome
        return asset_id


@pytest.fixture(scope="session")
def api(client: TestClient[Any]) -> Api:
    return Api(client)


def pytest_configure(config: pytest.Config) -> None:
    # Litestar 2.25 announces 3.0 spellings on every handler; the 2.x ones are what we pin.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:litestar.*")
    config.addinivalue_line("filterwarnings", "ignore:.*Litestar 3.0.*")
    config.addinivalue_line("filterwarnings", "ignore:Deprecated 'query' parameter.*")
