"""The console while peers are dead: pages read from a live peer, and an approval the ledger
cannot take stays pending with a clear temporary error instead of "refused by the ledger".

Own network (peer processes, as `gridledger up` runs them): these tests kill peers, which
the session's shared network must never see. Tests run in order; each kills more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledger.node.init import init_network
from ledger.node.network import Network
from ledger.node.spec import default_config_path
from tests.webapp.conftest import ADMIN_PASSWORD, Api
from tests.webapp.test_outcomes import kill, status_of, topup
from tests.webapp.test_pages_security import csrf_of, new_http
from webapp.app import create_app
from webapp.chain import Outcome, decode_invocation, decode_signoffs
from webapp.settings import Settings


@pytest.fixture(scope="module")
def dead_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("dead-peers")
    init_network(default_config_path(), data_dir, admin_password=ADMIN_PASSWORD)
    return data_dir


@pytest.fixture(scope="module")
def dead_network(dead_dir: Path) -> Iterator[Network]:
    net = Network.open(dead_dir, peer_processes=True)
    yield net
    net.close()


@pytest.fixture(scope="module")
def dead_client(dead_dir: Path, dead_network: Network, settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(dead_dir, network=dead_network, settings=settings)) as client:
        yield client


@pytest.fixture(scope="module")
def dead_api(dead_client: TestClient[Any]) -> Api:
    return Api(dead_client)


def page_session(client: TestClient[Any], username: str, password: str) -> TestClient[Any]:
    http = new_http(client)
    token = csrf_of(http.get("/login").text)
    done = http.post("/login", data={"username": username, "password": password, "_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return http


def test_an_unanswered_broadcast_is_settled_from_the_ledger_never_given_back(dead_api, dead_client, monkeypatch):
    """ORDERER_UNAVAILABLE after timeouts (a leader failover in networked mode) does not say
    the envelope was not ordered: here an orderer took it and only its answer was lost. The
    request must stay unsettled and end committed by its tx id, never pending (an administrator
    re-approving, or expiry, would then record a wrong outcome). Runs first: every peer is alive."""
    services = dead_client.app.state.services
    user_id, headers = dead_api.register()
    request_id = topup(dead_api, user_id, dead_api.login(user_id), 7)

    def ordered_but_unanswered(req: Any, signer: Any) -> Outcome:
        signoffs = decode_signoffs(req.signoffs_json) + [services.chain.signoff("approval", signer, req.tx_id)]
        done = services.chain.submit(signer, decode_invocation(req.invocation_hex), signoffs, services.settings.submit_timeout_s, lambda: None)
        assert done.committed, done  # on the ledger; the console is told the broadcast went unanswered
        return Outcome(False, req.tx_id, None, "ORDERER_UNAVAILABLE", "no orderer took the transaction in 10 s (its answer was lost)")

    monkeypatch.setattr(services.reviews, "_submit", ordered_but_unanswered)
    told = dead_client.post(f"/reviews/{request_id}/approve", headers=dead_api.admin())
    assert told.status_code == 503 and told.json()["code"] == "ORDERER_UNAVAILABLE", told.text
    assert "may still have been ordered" in told.json()["message"] and "Nothing was submitted" not in told.json()["message"]
    assert status_of(dead_client, request_id) == "approved"  # unsettled, not back in the queue
    assert services.outcomes.reconcile()["committed"] == 1
    assert status_of(dead_client, request_id) == "committed"
    assert dead_client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 7


def test_pages_read_from_a_live_peer_when_the_highest_one_is_dead(dead_api, dead_client, dead_network):
    user_id, headers = dead_api.register()
    asset_id = dead_api.publish(user_id, headers)
    http = page_session(dead_client, user_id, "user-pass-123")
    dead_api.topup(user_id, headers, 5)  # a block the console's indexes have not read yet
    # the peer a reader picked by height alone (all level: the first); dead, it keeps that height
    kill(max(dead_network.peers, key=lambda p: p.height))
    for path in ("/dashboard", "/market", f"/market/{asset_id}", "/explorer", "/explorer/blocks/1"):
        response = http.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
    search = dead_client.get("/assets/search", params={"q": "load"}, headers=headers)
    assert search.status_code == 200, search.text
    assert [a["Id"] for a in search.json()["assets"]] == [asset_id]


def test_verify_with_a_peer_down_gives_no_verdict_rather_than_a_wrong_one(dead_api, dead_client, dead_network):
    """(After the first test: one peer is dead.) The explorer said '✘ The ledger does not
    verify' when it could not check the dead peer; nothing was wrong with the ledger."""
    assert [p for p in dead_network.peers if not p.alive], "the first test leaves a peer dead"
    user_id, _ = dead_api.register()
    http = page_session(dead_client, user_id, "user-pass-123")
    token = csrf_of(http.get("/explorer").text)
    assert http.post("/explorer/verify", data={"_csrf_token": token}, follow_redirects=False).status_code == 303
    assert dead_client.app.state.services.verifier.wait(120)
    page = http.get("/explorer").text
    assert 'id="verify-unavailable"' in page and "PEER_UNAVAILABLE" in page, page[page.find("verify-card"):][:800]
    assert "does not verify" not in page


def test_an_approval_the_ledger_cannot_take_stays_pending_with_a_temporary_error(dead_api, dead_client, dead_network):
    user_id, headers = dead_api.register()
    request_id = topup(dead_api, user_id, dead_api.login(user_id), 9)
    org1 = [p for p in dead_network.peers if p.org == "Org1" and p.alive]
    for peer in org1:  # AND('Org1.peer', 'Org2.peer') can no longer be met
        kill(peer)
    admin = dead_api.admin()
    refused = dead_client.post(f"/reviews/{request_id}/approve", headers=admin)
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "NO_ENDORSERS" and "still pending" in refused.json()["message"]
    assert status_of(dead_client, request_id) == "pending"  # not "failed": the ledger never saw it
    mine = dead_client.get(f"/requests/{request_id}", headers=headers).json()
    assert mine["status"] == "pending", mine
    # the page says the same, in words, with its code
    http = page_session(dead_client, "admin", ADMIN_PASSWORD)
    token = csrf_of(http.get(f"/admin/reviews/{request_id}").text)
    page = http.post(f"/admin/reviews/{request_id}/approve", data={"_csrf_token": token})
    assert page.status_code == 503 and "NO_ENDORSERS" in page.text and "still pending" in page.text
    assert status_of(dead_client, request_id) == "pending"
