"""The explorer as people use it: key history from the page's own example, linked and decoded
reads and writes, who acted, short ids, block pages, invalid transactions, charts, and a
background verify that reports blocks checked."""

from __future__ import annotations

import html as html_lib
import re
import threading
import time
from typing import Any

import pytest

from ledger.core.messages import compute_tx_id
from ledger.gateway import creator_party, make_signoff
from tests.webapp.test_pages_security import csrf_of, new_http, page_login
from webapp.explorer_index import TX_PREFIX_MIN

ADMIN_PASSWORD = "admin-pass-123"


def wait_for(condition: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def story(api, client) -> dict[str, Any]:
    user_id, headers = api.register()
    asset_id = api.publish(user_id, headers, value=7)
    enroll_tx = client.get("/assets/exchange/history", params={"assetId": asset_id}, headers=headers).json()[0]["TxId"]
    http = new_http(client)
    page_login(http, user_id)
    return {"user": user_id, "headers": headers, "asset": asset_id, "enroll_tx": enroll_tx, "http": http}


def test_key_history_works_from_the_pages_example(client, story):
    http = story["http"]
    overview = http.get("/explorer").text
    example = html_lib.unescape(re.search(r'href="(/explorer/history\?key=[^"]+)" id="example-key"', overview).group(1))
    assert "powerdata%2Fasset%2F" in example or "powerdata/asset/" in example
    shown = http.get(example).text
    assert "no writes of this key" not in shown and 'id="history"' in shown
    # the contract's own spelling (`asset/<id>`) finds the stored key too, and says so
    bare = http.get("/explorer/history", params={"key": f"asset/{story['asset']}"}).text
    assert 'id="namespaced"' in bare and f"powerdata/asset/{story['asset']}" in bare and "no writes of this key" not in bare
    assert "no writes of this key" in http.get("/explorer/history", params={"key": "asset/none-such"}).text


def test_key_history_without_a_key_asks_for_one(client, story):
    """It was titled "History of" an empty key and said "no writes of this key"."""
    shown = story["http"].get("/explorer/history", params={"key": "  "}).text
    assert "<h1>Key history</h1>" in shown and "no writes of this key" not in shown and "name a state key" in shown


def test_transaction_page_links_keys_decodes_writes_and_names_who_acted(client, story):
    page = story["http"].get(f"/explorer/tx/{story['enroll_tx']}").text
    writes = page[page.index('id="writes"') :]
    assert f'href="/explorer/history?key=powerdata/asset/{story["asset"]}"' in writes.replace("%2F", "/")
    assert "&#34;IssuerId&#34;" in writes or "&quot;IssuerId&quot;" in writes  # the asset record, decoded JSON
    reads = page[page.index('id="reads"') : page.index("</dd>", page.index('id="reads"'))]
    assert f"powerdata/user/{story['user']}" in reads.replace("%2F", "/") and "/explorer/history?key=" in reads
    acting = page[page.index('id="acting"') : page.index("</dd>", page.index('id="acting"'))]
    assert f"Name {story['user']}" in acting and f"({story['user']}, certificate" in acting
    submitter = page[page.index('id="submitter"') : page.index("</dd>", page.index('id="submitter"'))]
    assert "Regulator/" in submitter and "the administrator who approved it on this console" in submitter


def test_short_ids_find_the_transaction(client, story):
    http, tx = story["http"], story["enroll_tx"]
    for short in (tx[:12], tx[:12] + "…", tx[:TX_PREFIX_MIN].upper()):
        found = http.get("/explorer/find", params={"tx": short}, follow_redirects=False)
        assert found.status_code == 303 and found.headers["location"] == f"/explorer/tx/{tx}", short
    assert http.get(f"/explorer/tx/{tx[:12]}", follow_redirects=False).headers["location"] == f"/explorer/tx/{tx}"
    too_short = http.get("/explorer/find", params={"tx": tx[: TX_PREFIX_MIN - 1]}, headers={"accept": "application/json"})
    assert too_short.status_code == 400 and "BAD_TX_ID" in too_short.text
    unknown = "0" * 11 + ("1" if tx[:12] != "0" * 11 + "1" else "2")
    assert http.get("/explorer/find", params={"tx": unknown}).status_code == 404


def _conflicting_registrations(network) -> tuple[str, str]:
    """Two endorsed registrations of one new user id, ordered together: the second commits
    MVCC_READ_CONFLICT (it read `user/<id>` as absent), deterministically."""
    name = f"conflict{time.monotonic_ns() % 10**9}"
    identity = network.client_identity(network.console_org, name)
    approver = network.service_identity(network.approver_org)
    gateway = network.gateway(identity)
    envelopes = []
    for _ in range(2):
        invocation = gateway.new_invocation("userRegister", [f"Name {name}", name])
        tx_id = compute_tx_id(invocation)
        signed = gateway.propose(invocation, [creator_party(identity), make_signoff("approval", approver, tx_id)])
        responses, payload = gateway.endorse(network.chaincode_name, signed)
        envelopes.append((tx_id, gateway.assemble(signed, payload, responses)))
    for _, envelope in envelopes:
        gateway.order(envelope)
    return envelopes[0][0], envelopes[1][0]


def test_invalid_transactions_are_highlighted_and_charted(client, network, story):
    valid_tx, invalid_tx = _conflicting_registrations(network)
    chain = client.app.state.services.chain
    wait_for(lambda: chain.commit_status(invalid_tx), what="the conflicting registration to commit")
    http = story["http"]
    tx_page = http.get(f"/explorer/tx/{invalid_tx}").text
    assert 'class="card invalid"' in tx_page and "MVCC_READ_CONFLICT" in tx_page and "writes were not applied" in tx_page
    block = chain.commit_status(invalid_tx).block
    block_page = http.get(f"/explorer/blocks/{block}").text
    row = block_page[block_page.index(invalid_tx[:12]) - 400 : block_page.index(invalid_tx[:12])]
    assert '<tr class="invalid">' in row
    overview = http.get("/explorer").text
    chart = overview[overview.index('id="chart-tx-per-minute"') : overview.index("</svg>", overview.index('id="chart-tx-per-minute"'))]
    assert 'data-series="MVCC_READ_CONFLICT"' in chart and 'data-series="VALID"' in chart
    assert 'id="chart-block-sizes"' in overview and overview.count('class="bar" data-series="size"') >= 2
    assert 'class="badge-invalid"' in overview or chain.height() - block > 20  # its block row is marked while listed


def test_blocks_are_paginated(api, client, story):
    chain = client.app.state.services.chain
    while chain.height() <= 21:
        api.register()
    http = story["http"]
    first = http.get("/explorer").text
    height = chain.height()
    assert f'href="/explorer/blocks/{height - 1}"' in first and f'href="/explorer/blocks/{height - 21}"' not in first
    assert 'id="older"' in first
    second = http.get("/explorer", params={"page": "2"}).text
    assert f'href="/explorer/blocks/{height - 21}"' in second and 'id="newer"' in second


def test_verify_runs_in_the_background_one_at_a_time(api, client, monkeypatch, story):
    services = client.app.state.services
    admin = new_http(client)
    page_login(admin, "admin", ADMIN_PASSWORD)
    release = threading.Event()
    real_verify = services.chain.verify

    def slow_verify() -> Any:
        release.wait(30)
        return real_verify()

    monkeypatch.setattr(services.chain, "verify", slow_verify)
    token = csrf_of(admin.get("/explorer").text)
    started = admin.post("/explorer/verify", data={"_csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303
    running = admin.get("/explorer").text
    assert 'id="verify-running"' in running and 'http-equiv="refresh"' in running
    again = admin.post("/explorer/verify", data={"_csrf_token": token}, headers={"accept": "application/json"})
    assert again.status_code == 409 and "VERIFY_RUNNING" in again.text
    user_id, headers = api.register()  # commits go on while a verify runs
    api.topup(user_id, headers, 5)
    release.set()
    assert services.verifier.wait(60)
    done = admin.get("/explorer").text
    height = services.chain.height()
    verdict = re.search(r"The ledger is intact: (\d+) blocks checked on each of (\d+) nodes", done)
    assert verdict, done[done.index('id="verify-card"') :][:800]
    assert height - 3 <= int(verdict.group(1)) <= height and int(verdict.group(2)) == len(services.chain.peers) + 1
