"""The marketplace: word search from the index fed by committed blocks, sorts, pages, readable
figures, the data dictionary and the publisher's sales."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.webapp.test_pages_security import new_http, page_login


def publish(api, client, user_id: str, headers: dict[str, str], *, name: str, description: str, value: int, content: bytes | None = None) -> str:
    content = content or f"time,load_kw,voltage_v\n2024-01-01T00:00:00,{uuid.uuid4().int % 997},230.1\n".encode()
    info = api.upload(headers, content)
    metadata = json.dumps({**info, "description": description, "licence": "research use"})
    asset_id = api.unique("m")
    response = client.post(
        "/assets/enroll", json={"assetName": name, "assetId": asset_id, "metadata": metadata, "ownerId": user_id, "value": value}, headers=headers
    )
    assert response.status_code == 202, response.text
    assert api.approve(response.json()["requestId"])["status"] == "committed"
    return asset_id


def search(client, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/assets/search", params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture(scope="module")
def shelf(api, client) -> dict[str, Any]:
    """Three assets by one publisher sharing a tag word, with different prices; one bought twice."""
    tag = uuid.uuid4().hex[:10]
    publisher, pub_h = api.register()
    cheap = publish(api, client, publisher, pub_h, name=f"Solar Feeder {tag}", description="Hourly irradiance at the substation", value=3)
    mid = publish(api, client, publisher, pub_h, name=f"Wind Farm {tag}", description="Turbine output", value=1500)
    dear = publish(api, client, publisher, pub_h, name=f"Grid Losses {tag}", description="Losses per feeder", value=12345)
    for _ in range(2):
        buyer, buy_h = api.register()
        api.topup(buyer, buy_h, 2000)
        bought = client.post("/assets/exchange", json={"assetId": mid, "originOwnerId": publisher, "currentOwnerId": buyer}, headers=buy_h)
        assert api.approve(bought.json()["requestId"])["status"] == "committed"
    return {"tag": tag, "publisher": publisher, "headers": pub_h, "cheap": cheap, "mid": mid, "dear": dear}


def ids(found: dict[str, Any]) -> list[str]:
    return [a["Id"] for a in found["assets"]]


def test_search_needs_every_word_in_any_order_and_case(client, shelf):
    h, tag = shelf["headers"], shelf["tag"]
    assert ids(search(client, h, q=f"SUBSTATION {tag} solar")) == [shelf["cheap"]]  # name, description, any order and case
    assert ids(search(client, h, q=f"{tag} solar turbine")) == []  # every word must match
    assert ids(search(client, h, q=f"voltage_v {tag.upper()} wind")) == [shelf["mid"]]  # a column name
    assert ids(search(client, h, q=f"irrad {tag}")) == [shelf["cheap"]]  # words match by prefix
    by_issuer = search(client, h, q=f"{shelf['publisher']} {tag}")  # the issuer's id and display name are indexed
    assert set(ids(by_issuer)) == {shelf["cheap"], shelf["mid"], shelf["dear"]}
    display = f"Name {shelf['publisher']}"
    assert set(ids(search(client, h, q=f"name {tag}"))) == set(ids(by_issuer))
    assert all(a["IssuerName"] == display and a["IssuerOrg"] for a in by_issuer["assets"])


def test_sorts_and_pages(client, shelf):
    h, tag = shelf["headers"], shelf["tag"]
    assert ids(search(client, h, q=tag, sort="price_asc")) == [shelf["cheap"], shelf["mid"], shelf["dear"]]
    assert ids(search(client, h, q=tag, sort="price_desc")) == [shelf["dear"], shelf["mid"], shelf["cheap"]]
    assert ids(search(client, h, q=tag, sort="newest")) == [shelf["dear"], shelf["mid"], shelf["cheap"]]
    most = search(client, h, q=tag, sort="most_bought")
    assert ids(most)[0] == shelf["mid"] and most["assets"][0]["Purchases"] == 2
    first = search(client, h, q=tag, sort="price_asc", pageSize=2)
    second = search(client, h, q=tag, sort="price_asc", pageSize=2, page=2)
    assert (first["total"], first["pages"], ids(first), ids(second)) == (3, 2, [shelf["cheap"], shelf["mid"]], [shelf["dear"]])
    refused = client.get("/assets/search", params={"sort": "cheapest"}, headers=h)
    assert refused.status_code == 400 and refused.json()["code"] == "BAD_SORT"
    assert client.get("/assets/search", params={"page": 0}, headers=h).status_code == 400


def test_search_and_duplicate_check_never_list_every_asset(api, client, shelf, monkeypatch):
    """The index answers: a scan of the ledger's assets would raise here."""
    services = client.app.state.services

    def no_scan(*_: Any, **__: Any) -> None:
        raise AssertionError("listAssets scan")

    monkeypatch.setattr(services.chain, "list_assets", no_scan)
    fresh_tag = uuid.uuid4().hex[:10]
    content = f"time,load_kw\n2024-02-01T00:00:00,{fresh_tag.count('a')}\n{fresh_tag}\n".encode()
    original = publish(api, client, shelf["publisher"], shelf["headers"], name=f"Original {fresh_tag}", description="d", value=1, content=content)
    assert ids(search(client, shelf["headers"], q=fresh_tag)) == [original]  # the new block was read on demand
    other, other_h = api.register()
    info = api.upload(other_h, content)
    metadata = json.dumps({**info, "description": "same file", "licence": "any"})
    response = client.post("/assets/enroll", json={"assetName": "Again", "assetId": api.unique("d"), "metadata": metadata, "ownerId": other, "value": 1}, headers=other_h)
    assert response.status_code == 202, response.text
    review = client.get("/reviews", params={"status": "pending", "requester": other}, headers=api.admin()).json()
    mine = next(r for r in review if r["requestId"] == response.json()["requestId"])
    assert any("Duplicate content" in w and original in w for w in mine["warnings"])


def test_market_page_shows_sizes_prices_and_issuer_by_name(client, shelf):
    http = new_http(client)
    page_login(http, shelf["publisher"])
    html = http.get("/market", params={"q": shelf["tag"], "sort": "price_desc"}).text
    assert "12,345" in html and "1,500" in html
    assert " B</td>" in html  # small files in bytes
    assert f"Name {shelf['publisher']}</a> <span class=\"muted\">(" in html
    assert "3 assets" in html
    asset_page = http.get(f"/market/{shelf['dear']}").text
    assert '<dd id="price">12,345 tokens</dd>' in asset_page and f"Name {shelf['publisher']}</a>" in asset_page
    paged = http.get("/market", params={"q": shelf["tag"], "page": "2"}).text
    assert "page 1 of 1" in paged  # past the last page: the last page


def test_data_dictionary_infers_timestamps_units_and_counts_rows(api, client, shelf):
    content = b"time,epoch_s,load_kw,Voltage [V],site\n2024-01-01T00:00:00Z,1704067200,1.5,230,north\n2024-01-01T01:00:00Z,1704070800,2,231,south\n"
    info = api.upload(shelf["headers"], content, name="dict.csv")
    columns = {c["name"]: c for c in info["columns"]}
    assert info["rows"] == 2
    assert columns["time"] == {"name": "time", "type": "timestamp", "unit": "ISO 8601"}
    assert columns["epoch_s"]["type"] == "timestamp" and columns["epoch_s"]["unit"] == "seconds since 1970"
    assert columns["load_kw"] == {"name": "load_kw", "type": "number", "unit": "kW"}
    assert columns["Voltage [V]"]["unit"] == "V"
    assert columns["site"] == {"name": "site", "type": "text"}  # no unit claimed
    asset_id = publish(api, client, shelf["publisher"], shelf["headers"], name="Dictionary", description="d", value=1, content=content)
    http = new_http(client)
    page_login(http, shelf["publisher"])
    html = http.get(f"/market/{asset_id}").text
    assert '<p id="rows">2 rows</p>' in html
    assert '<td class="unit">kW</td>' in html and '<td class="type">timestamp</td>' in html


def test_publisher_dashboard_shows_sales_and_revenue_per_asset(client, shelf):
    http = new_http(client)
    page_login(http, shelf["publisher"])
    html = http.get("/dashboard").text
    row = html[html.index(f'/market/{shelf["mid"]}"', html.index('id="sales"')) :]
    row = row[: row.index("</tr>")]
    assert '<td class="sold">2</td>' in row and '<td class="revenue">3,000 tokens</td>' in row
    cheap = html[html.index(f'/market/{shelf["cheap"]}"', html.index('id="sales"')) :]
    assert '<td class="sold">0</td>' in cheap[: cheap.index("</tr>")]
