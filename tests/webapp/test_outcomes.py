"""Outcomes that stay true when components die: a dead commit peer, a commit timeout, a crash
in the middle of a bulk approval, and /healthz saying when the ledger cannot commit.

This module runs its own network (peer processes, as `gridledger up` runs them): its tests
kill peers, which the session's shared network must never see. The last test kills them all.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledger.node.init import init_network
from ledger.node.network import Network
from ledger.node.spec import default_config_path
from tests.webapp.conftest import ADMIN_PASSWORD, Api
from webapp.app import create_app
from webapp.chain import decode_invocation, decode_signoffs
from webapp.db import ReviewRequest, session
from webapp.settings import Settings

SETTLE_WAIT_S = 90.0
GONE_WAIT_S = 30.0


def wait_for(condition: Callable[[], bool], timeout_s: float = SETTLE_WAIT_S, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()


@pytest.fixture(scope="module")
def own_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("outcomes")
    init_network(default_config_path(), data_dir, admin_password=ADMIN_PASSWORD)
    return data_dir


@pytest.fixture(scope="module")
def own_network(own_dir: Path) -> Iterator[Network]:
    net = Network.open(own_dir, peer_processes=True)
    yield net
    net.close()


@pytest.fixture(scope="module")
def own_client(own_dir: Path, own_network: Network, settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(own_dir, network=own_network, settings=settings)) as client:
        yield client


@pytest.fixture(scope="module")
def own_api(own_client: TestClient[Any]) -> Api:
    return Api(own_client)


def status_of(client: TestClient[Any], request_id: str) -> str:
    with session(client.app.state.services.engine) as db:
        row = db.get(ReviewRequest, request_id)
        assert row is not None
        return row.status


def topup(api: Api, user_id: str, headers: dict[str, str], amount: int) -> str:
    response = api.client.post("/users/topup", json={"userId": user_id, "Token": amount}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def balance(api: Api, user_id: str, headers: dict[str, str]) -> int:
    return int(api.client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"])


def kill(peer: Any) -> None:
    os.kill(peer.pid, signal.SIGKILL)
    assert peer.wait_gone(GONE_WAIT_S), f"{peer.name} did not go away"


def test_commit_timeout_stays_submitted_and_is_settled_by_tx_id(own_dir, own_network, own_api, settings):
    user_id, headers = own_api.register()
    impatient = replace(settings, submit_timeout_s=0.0, reconcile_interval_s=3600)
    with TestClient(app=create_app(own_dir, network=own_network, settings=impatient)) as client:
        api = Api(client)  # sessions belong to one app: log in again
        request_id = topup(api, user_id, api.login(user_id), 13)
        outcome = client.post(f"/reviews/{request_id}/approve", headers=api.admin()).json()
        # not "failed": the transaction was ordered and may well commit
        assert outcome["status"] == "submitted" and outcome["code"] == "COMMIT_TIMEOUT", outcome
        outcomes = client.app.state.services.outcomes
        assert wait_for(lambda: outcomes.reconcile()["committed"] == 1 or status_of(client, request_id) == "committed")
        assert status_of(client, request_id) == "committed"
        assert balance(own_api, user_id, headers) == 13


def test_approvals_survive_the_death_of_the_consoles_commit_peer(own_client, own_api, own_network):
    users = [own_api.register() for _ in range(6)]
    admin = own_api.admin()
    services = own_client.app.state.services
    admin_identity = services.sessions.get(admin["Authorization"].split()[1]).identity
    commit_peer = services.chain.gateway(admin_identity).waiter.peer
    ids = [topup(own_api, user_id, headers, 21) for user_id, headers in users]
    answers: list[dict[str, Any]] = []

    def approve_all() -> None:
        for request_id in ids:
            answers.append(own_client.post(f"/reviews/{request_id}/approve", headers=admin).json())

    approving = threading.Thread(target=approve_all)
    approving.start()
    assert wait_for(lambda: len(answers) >= 2, timeout_s=60)
    kill(commit_peer)  # while the rest are being approved
    killed_at = time.monotonic()
    approving.join(timeout=300)
    assert not approving.is_alive()
    # the gateway failed over: the remaining approvals did not each wait out a commit timeout
    assert time.monotonic() - killed_at < services.settings.submit_timeout_s
    assert len(answers) == len(ids)
    assert not [a for a in answers if a["status"] == "failed"], answers
    # whatever was unsettled when the peer died is settled from a live peer
    assert wait_for(lambda: services.outcomes.reconcile() is not None and all(status_of(own_client, i) == "committed" for i in ids))
    for user_id, headers in users:
        assert balance(own_api, user_id, headers) == 21  # paid once, not twice
    # and the console's gateway now waits on a live peer
    assert services.chain.gateway(admin_identity).waiter.peer.alive


def test_crash_mid_bulk_approval_is_reconciled_on_start(own_dir, own_network, own_client, own_api, settings):
    """Simulated crash: four requests left `approved`; two of them reached the ledger first."""
    users = [own_api.register() for _ in range(4)]
    ids = [topup(own_api, user_id, headers, 34) for user_id, headers in users]
    services = own_client.app.state.services
    admin = services.sessions.get(own_api.admin()["Authorization"].split()[1])
    with session(services.engine) as db:
        rows = [db.get(ReviewRequest, i) for i in ids]
        for row in rows:
            assert row is not None
            row.status, row.decided_by, row.decided_at = "approved", "admin", time.time() - 5
            db.add(row)
        db.commit()
    for row in rows[:2]:  # ordered and committed, but the console died before recording it
        assert row is not None
        signoffs = decode_signoffs(row.signoffs_json) + [services.chain.signoff("approval", admin.identity, row.tx_id)]
        assert services.chain.submit(admin.identity, decode_invocation(row.invocation_hex), signoffs, 60.0).committed
    restarted = replace(settings, reconcile_absent_after_s=1.0, reconcile_interval_s=0.2)
    with TestClient(app=create_app(own_dir, network=own_network, settings=restarted)) as client:
        assert wait_for(lambda: [status_of(client, i) for i in ids] == ["committed", "committed", "pending", "pending"])
        api = Api(client)
        for request_id in ids[2:]:  # re-decidable: approve again, same transaction id
            assert api.approve(request_id)["status"] == "committed"
        actions = [e["action"] for e in client.get("/reviews/audit", params={"requestId": ids[2]}, headers=api.admin()).json()]
        assert "reproposable" in actions
    for user_id, headers in users:
        assert balance(own_api, user_id, headers) == 34


def test_a_request_left_approved_while_the_console_runs_is_settled_by_the_periodic_pass(own_dir, own_network, settings):
    """(Before the health test, which kills the shared network's peers.) Not only at start: a request that ends up `approved` and on the ledger while the
    console runs (its submit died half-way) is settled by the loop, with no restart."""
    periodic = replace(settings, reconcile_interval_s=0.2, reconcile_absent_after_s=3600.0)
    with TestClient(app=create_app(own_dir, network=own_network, settings=periodic)) as client:
        api = Api(client)
        user_id, headers = api.register()
        request_id = topup(api, user_id, headers, 21)
        services = client.app.state.services
        admin = services.sessions.get(api.admin()["Authorization"].split()[1])
        assert status_of(client, request_id) == "pending"  # the start-up pass is long over
        with session(services.engine) as db:
            row = db.get(ReviewRequest, request_id)
            assert row is not None
            row.status, row.decided_by, row.decided_at = "approved", "admin", time.time()
            db.add(row)
            db.commit()
            signoffs = decode_signoffs(row.signoffs_json) + [services.chain.signoff("approval", admin.identity, row.tx_id)]
            invocation = decode_invocation(row.invocation_hex)
        assert services.chain.submit(admin.identity, invocation, signoffs, 60.0).committed
        assert wait_for(lambda: status_of(client, request_id) == "committed")
        entries = client.get("/reviews/audit", params={"requestId": request_id}, headers=api.admin()).json()
        assert ("reconcile", "committed") in {(e["actor"], e["action"]) for e in entries}, entries  # the loop settled it
        assert balance(api, user_id, headers) == 21


def test_healthz_reports_components_and_degrades_when_no_peer_can_commit(own_client, own_network):
    healthy = own_client.get("/healthz")
    body = healthy.json()
    assert healthy.status_code == 200 and body["status"] == "ok" and body["canCommit"], body
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["orderer"]["status"] == "ok"
    assert len(body["components"]["peers"]) == 4
    for peer in [p for p in own_network.peers if p.alive]:
        kill(peer)
    dead = own_client.get("/healthz")
    assert dead.status_code == 503
    assert dead.json()["status"] == "degraded"
    assert all(p["status"] == "down" for p in dead.json()["components"]["peers"])

