"""The console while peers are dead: pages read from a live peer, and an approval the ledger
cannot take stays pending with a clear temporary error instead of "refused by the ledger".

Own network (peer processes, as `gridledger up` runs them): these tests kill peers, which
the session's shared network must never see. Tests run in order; each kills more.
"""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.webapp import test_outcomes
from tests.webapp.conftest import ADMIN_PASSWORD
from tests.webapp.test_outcomes import kill, status_of, topup
from tests.webapp.test_pages_security import csrf_of, new_http
from webapp.chain import Outcome, decode_invocation, decode_signoffs

# test_outcomes' network fixtures: module-scoped, so this module gets a network of its own
own_dir, own_network, own_client, own_api = test_outcomes.own_dir, test_outcomes.own_network, test_outcomes.own_client, test_outcomes.own_api


def page_session(client: TestClient[Any], username: str, password: str) -> TestClient[Any]:
    http = new_http(client)
    token = csrf_of(http.get("/login").text)
    done = http.post("/login", data={"username": username, "password": password, "_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return http


def test_an_unanswered_broadcast_is_settled_from_the_ledger_never_given_back(own_api, own_client, monkeypatch):
    """ORDERER_UNAVAILABLE after timeouts (a leader failover in networked mode) does not say
    the envelope was not ordered: here an orderer took it and only its answer was lost. The
    request must stay unsettled and end committed by its tx id, never pending (an administrator
    re-approving, or expiry, would then record a wrong outcome). Runs first: every peer is alive."""
    services = own_client.app.state.services
    user_id, headers = own_api.register()
    request_id = topup(own_api, user_id, own_api.login(user_id), 7)

    def ordered_but_unanswered(req: Any, signer: Any) -> Outcome:
        signoffs = decode_signoffs(req.signoffs_json) + [services.chain.signoff("approval", signer, req.tx_id)]
        done = services.chain.submit(signer, decode_invocation(req.invocation_hex), signoffs, services.settings.submit_timeout_s, lambda: None)
        assert done.committed, done  # on the ledger; the console is told the broadcast went unanswered
        return Outcome(False, req.tx_id, None, "ORDERER_UNAVAILABLE", "no orderer took the transaction in 10 s (its answer was lost)")

    monkeypatch.setattr(services.reviews, "_submit", ordered_but_unanswered)
    told = own_client.post(f"/reviews/{request_id}/approve", headers=own_api.admin())
    assert told.status_code == 503 and told.json()["code"] == "ORDERER_UNAVAILABLE", told.text
    assert "may still have been ordered" in told.json()["message"] and "Nothing was submitted" not in told.json()["message"]
    assert status_of(own_client, request_id) == "approved"  # unsettled, not back in the queue
    assert services.outcomes.reconcile()["committed"] == 1
    assert status_of(own_client, request_id) == "committed"
    assert own_client.get("/users/get", params={"userId": user_id}, headers=headers).json()["Token"] == 7


def test_pages_read_from_a_live_peer_when_the_highest_one_is_dead(own_api, own_client, own_network):
    user_id, headers = own_api.register()
    asset_id = own_api.publish(user_id, headers)
    http = page_session(own_client, user_id, "user-pass-123")
    own_api.topup(user_id, headers, 5)  # a block the console's indexes have not read yet
    # the peer a reader picked by height alone (all level: the first); dead, it keeps that height
    kill(max(own_network.peers, key=lambda p: p.height))
    for path in ("/dashboard", "/market", f"/market/{asset_id}", "/explorer", "/explorer/blocks/1"):
        response = http.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
    search = own_client.get("/assets/search", params={"q": "load"}, headers=headers)
    assert search.status_code == 200, search.text
    assert [a["Id"] for a in search.json()["assets"]] == [asset_id]


def test_verify_with_a_peer_down_gives_no_verdict_rather_than_a_wrong_one(own_api, own_client, own_network):
    """(After the first test: one peer is dead.) The explorer said '✘ The ledger does not
    verify' when it could not check the dead peer; nothing was wrong with the ledger."""
    assert [p for p in own_network.peers if not p.alive], "the first test leaves a peer dead"
    user_id, _ = own_api.register()
    http = page_session(own_client, user_id, "user-pass-123")
    token = csrf_of(http.get("/explorer").text)
    assert http.post("/explorer/verify", data={"_csrf_token": token}, follow_redirects=False).status_code == 303
    assert own_client.app.state.services.verifier.wait(120)
    page = http.get("/explorer").text
    assert 'id="verify-unavailable"' in page and "PEER_UNAVAILABLE" in page, page[page.find("verify-card"):][:800]
    assert "does not verify" not in page


def test_an_approval_the_ledger_cannot_take_stays_pending_with_a_temporary_error(own_api, own_client, own_network):
    user_id, headers = own_api.register()
    request_id = topup(own_api, user_id, own_api.login(user_id), 9)
    org1 = [p for p in own_network.peers if p.org == "Org1" and p.alive]
    for peer in org1:  # AND('Org1.peer', 'Org2.peer') can no longer be met
        kill(peer)
    admin = own_api.admin()
    refused = own_client.post(f"/reviews/{request_id}/approve", headers=admin)
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "NO_ENDORSERS" and "still pending" in refused.json()["message"]
    assert status_of(own_client, request_id) == "pending"  # not "failed": the ledger never saw it
    mine = own_client.get(f"/requests/{request_id}", headers=headers).json()
    assert mine["status"] == "pending", mine
    # the page says the same, in words, with its code
    http = page_session(own_client, "admin", ADMIN_PASSWORD)
    token = csrf_of(http.get(f"/admin/reviews/{request_id}").text)
    page = http.post(f"/admin/reviews/{request_id}/approve", data={"_csrf_token": token})
    assert page.status_code == 503 and "NO_ENDORSERS" in page.text and "still pending" in page.text
    assert status_of(own_client, request_id) == "pending"
