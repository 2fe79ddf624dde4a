"""The metering JSON API on the real network the console runs on: meters, readings, chain
check, alerts, tariffs, bills; scoping by the contract (meter staff see their organization's
meters, any other member none, an administrator reads as a national regulator, a customer
its own meters); routes in the OpenAPI document."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from chaincode.metering.tools.client import MeteringClient, customer_ref
from ledger.gateway import creator_party
from ledger.node.network import Network
from webapp.errors import AppError

DAY = [{"start": f"2026-11-03T0{h}:{m:02d}:00Z", "wh": 300, "varh": 30, "peak_w": 1500} for h in (1, 2) for m in (0, 15, 30, 45)]


@pytest.fixture(scope="module")
def meters(network: Network) -> dict[str, str]:
    ids = {org: f"API-{org}-{uuid.uuid4().hex[:8]}" for org in ("Org1", "Org2")}
    for org, meter_id in ids.items():
        client = MeteringClient(network, org)
        handle = client.ensure_meter(meter_id, customer="c", rated_kw="8", region="CN-32-01", voltage_kv="0.4")
        readings = [dict(r) for r in DAY]
        readings[3]["peak_w"] = 20_000  # LOAD_OVER_RATED
        assert all(o.ok for o in client.submit_round([(handle, readings)]))
    return ids


def _get(client: TestClient[Any], path: str, headers: dict[str, str], **params: str) -> Any:
    response = client.get(path, headers=headers, params=params)
    return response.status_code, response.json()


def test_a_sign_up_reads_no_meter_data(client: TestClient[Any], api: Any, meters: dict[str, str]) -> None:
    """Every console sign-up is a plain client of Org1 (a researcher, a customer): the contract
    refuses it its own organization's meter data, 403 NOT_METER_STAFF on every route."""
    _, user = api.register()
    own = meters["Org1"]
    period = {"meterId": own, "period": "2026-11"}
    for path, params in (("/meters", {}), (f"/meters/{own}", {}), (f"/meters/{own}/readings", {"from": "2026-11-03T00:00:00Z", "to": "2026-11-04T00:00:00Z"}),
                         (f"/meters/{own}/monthly", {}), (f"/meters/{own}/verify", {}), ("/alerts", {}), ("/alerts", {"meterId": own}),
                         ("/bills", {}), ("/bills", {"meterId": own}), ("/bills", period)):
        status, refused = _get(client, path, user, **params)
        assert (status, refused["code"]) == (403, "NOT_METER_STAFF"), (path, params, refused)
        assert "not its meter staff" in refused["message"]
    status, tariff = _get(client, "/tariffs/CN-RES-TOU", user)
    assert status == 200 and tariff["tariffId"] == "CN-RES-TOU"  # tariffs are public to members


def test_meter_staff_reads_its_organizations_meters_only(client: TestClient[Any], api: Any, meters: dict[str, str], network: Network) -> None:
    """An administrator makes an account an operator: the console then reads as its operator
    identity (Org1/<user>+operator, staff=operator); revoking takes it away again."""
    from webapp import metering_staff

    services = client.app.state.services
    user_id, user = api.register()
    row = metering_staff.grant(services, user_id, "admin")
    assert (row.org, row.kind) == ("Org1", "operator")
    own, other = meters["Org1"], meters["Org2"]
    status, listed = _get(client, "/meters", user)
    assert status == 200 and own in {m["meterId"] for m in listed} and other not in {m["meterId"] for m in listed}
    status, meter = _get(client, f"/meters/{own}", user)
    assert status == 200 and meter["head"]["seq"] == 1 and len(meter["customerRef"]) == 64
    salt = (network.layout.app_dir("Org1", "metering") / "customer-salt").read_text()
    assert len(salt) == 64 and meter["customerRef"] == customer_ref(salt, "c") != customer_ref("Org1", "c")  # a secret salt, not the org's name
    status, refused = _get(client, f"/meters/{other}", user)
    assert (status, refused["code"]) == (403, "NOT_IN_SCOPE")  # another company's meter
    status, rows = _get(client, f"/meters/{own}/readings", user, **{"from": "2026-11-03T00:00:00Z", "to": "2026-11-04T00:00:00Z"})
    assert status == 200 and [r["wh"] for r in rows] == [300] * 8
    status, bad = _get(client, f"/meters/{own}/readings", user, **{"from": "yesterday", "to": "2026-11-04T00:00:00Z"})
    assert (status, bad["code"]) == (400, "BAD_TIME")
    status, chain = _get(client, f"/meters/{own}/verify", user)
    assert status == 200 and chain["ok"] is True and chain["batches"] == 1
    status, alerts = _get(client, "/alerts", user, meterId=own)
    assert status == 200 and [a["rule"] for a in alerts] == ["LOAD_OVER_RATED"]
    status, monthly = _get(client, f"/meters/{own}/monthly", user)
    assert (status, monthly) == (200, {"2026-11": 8 * 300})
    status, missing = _get(client, "/meters/NO-SUCH-METER", user)
    assert (status, missing["code"]) == (404, "UNKNOWN_METER")
    for bad_grant, code in ((user_id, "ALREADY_STAFF"), ("admin", "NOT_A_GRID_MEMBER"), ("no-such-account", "UNKNOWN_USER")):
        with pytest.raises(AppError) as refused_grant:
            metering_staff.grant(services, bad_grant, "admin")
        assert refused_grant.value.code == code
    metering_staff.revoke(services, user_id)
    assert _get(client, f"/meters/{own}", user)[1]["code"] == "NOT_METER_STAFF"


def test_administrator_reads_every_meter_and_tariffs_and_bills(client: TestClient[Any], api: Any, meters: dict[str, str]) -> None:
    admin = api.admin()
    status, listed = _get(client, "/meters", admin)
    assert status == 200 and set(meters.values()) <= {m["meterId"] for m in listed}
    status, alerts = _get(client, "/alerts", admin)
    assert status == 200 and set(meters.values()) <= {a["meterId"] for a in alerts}
    status, tariff = _get(client, "/tariffs/CN-RES-TOU", admin)
    assert status == 200 and tariff["version"] == 0 and len(tariff["tariff"]["tou"]) == 4
    status, missing = _get(client, "/tariffs/NOPE", admin)
    assert (status, missing["code"]) == (404, "UNKNOWN_TARIFF")
    status, bills = _get(client, "/bills", admin, meterId=meters["Org2"])
    assert (status, bills) == (200, [])
    status, unbilled = _get(client, "/bills", admin, meterId=meters["Org2"], period="2026-11")
    assert (status, unbilled["code"]) == (404, "UNKNOWN_BILL")
    assert client.get("/meters").status_code == 401
    status, bare = _get(client, f"/meters/{meters['Org1']}/readings", admin, to="2026-11-04T00:00:00Z")
    assert (status, bare["code"]) == (400, "BAD_REQUEST") and "query parameter 'from' is required" in bare["message"], bare


def test_metering_routes_are_in_the_openapi_document(client: TestClient[Any]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in ("/meters", "/meters/{meter_id}", "/meters/{meter_id}/readings", "/meters/{meter_id}/monthly", "/meters/{meter_id}/verify", "/my/meters", "/alerts", "/tariffs/{tariff_id}", "/bills"):
        assert "get" in paths[path], path
        assert {"401", "503"} <= set(paths[path]["get"]["responses"]), path


def test_customer_reads_its_own_meter_and_monthly_totals(client: TestClient[Any], api: Any, meters: dict[str, str]) -> None:
    """A console account linked to Org2's meter reads it (and nothing else) through /my/meters,
    as a customer identity the contract scopes; its own member identity may not read that meter."""
    from webapp import customers

    services = client.app.state.services
    user_id, user = api.register()
    other_meter = meters["Org2"]
    record = services.chain.gateway(services.chain.network.service_identity("Org2")).evaluate_json("queryMeter", [other_meter], chaincode="metering")
    row = customers.link(services, user_id, record, "Zhang San", "110101199003071234", "6222020200112233")
    assert row.customer_ref == record["customerRef"] and "Zhang" not in json.dumps(record)
    status, mine = _get(client, "/my/meters", user)
    assert status == 200 and [m["meter"]["meterId"] for m in mine] == [other_meter] and mine[0]["bills"] == []
    assert _get(client, f"/meters/{other_meter}", user)[0] == 403  # its member identity still may not
    shown = customers.masked(row)
    assert (shown["name"], shown["id_number"], shown["bank_account"]) == ("••••• San", "•" * 14 + "1234", "•" * 12 + "2233")
    assert _get(client, "/my/meters", api.register()[1]) == (200, [])
    with pytest.raises(AppError) as refused:
        customers.link(services, user_id, record, "Li Si", "x", "y")
    assert refused.value.code == "CUSTOMER_LINKED"  # a meter has one customer in the console
    with pytest.raises(AppError) as refused:
        customers.link(services, "no-such-account", record, "Li Si", "x", "y")
    assert refused.value.code == "UNKNOWN_USER"
    with pytest.raises(AppError) as refused:
        customers.link(services, user_id, {**record, "meterId": "OTHER"}, "  ", "x", "y")
    assert refused.value.code == "BAD_CUSTOMER"


def test_work_orders_turn_overdue_at_the_seed_deadlines() -> None:
    """The alert queue's state column: open past 2 h, then unresolved past 8 h (seed 004)."""
    from webapp.pages_metering import work_order_state

    hour = 3_600_000
    alert = {"status": "open", "raisedAt": 0, "ackDueAt": 2 * hour, "escalatedDueAt": 8 * hour}
    assert [work_order_state(alert, t) for t in (2 * hour, 2 * hour + 1, 8 * hour + 1)] == ["open", "overdue: local team (2 h)", "overdue: escalated to the province (8 h)"]
    acked = {**alert, "status": "acknowledged"}
    assert [work_order_state(acked, t) for t in (3 * hour, 8 * hour + 1)] == ["acknowledged", "overdue: escalated to the province (8 h)"]
    assert work_order_state({**alert, "status": "resolved"}, 99 * hour) == "resolved"


def _page_session(client: TestClient[Any], username: str, password: str) -> TestClient[Any]:
    """A cookie session on the same app (pages, not the bearer API)."""
    import re

    http = TestClient(app=client.app, base_url="http://testserver.local")
    http.cookies.clear()
    token = re.search(r'name="_csrf_token" value="([^"]+)"', http.get("/login").text)
    assert token is not None
    response = http.post("/login", data={"username": username, "password": password, "_csrf_token": token.group(1)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return http


def test_consumption_is_shown_in_the_meters_local_time(client: TestClient[Any], api: Any, meters: dict[str, str]) -> None:
    """The fixture's readings are 01:00-02:45 UTC on 3 November: 09:00-10:45 in the tariff's
    UTC+8, the hours its bands and bills count them in. The meter page's day chart and a
    customer's last day show them at 09:00 and 10:00 local, and say so."""
    from tests.webapp.conftest import ADMIN_PASSWORD
    from webapp import customers

    admin = _page_session(client, "admin", ADMIN_PASSWORD)
    page = admin.get(f"/metering/meters/{meters['Org1']}", params={"view": "day"})
    assert page.status_code == 200, page.text
    assert "day to 2026-11-03, local time (UTC+8)" in page.text
    assert "09:00: 1.2 kWh" in page.text and "10:00: 1.2 kWh" in page.text and "01:00: 1.2 kWh" not in page.text
    week = admin.get(f"/metering/meters/{meters['Org1']}", params={"view": "week"})
    assert "11-03: 2.4 kWh" in week.text

    services = client.app.state.services
    user_id, _ = api.register()
    record = services.chain.gateway(services.chain.network.service_identity("Org1")).evaluate_json("queryMeter", [meters["Org1"]], chaincode="metering")
    customers.link(services, user_id, record, "Wang Wu", "110101199003075678", "6222020200115678")
    mine = _page_session(client, user_id, "user-pass-123").get("/metering/my")
    assert mine.status_code == 200 and "hour (local time, UTC+8)" in mine.text
    assert "2026-11-03 09:00" in mine.text and "2026-11-03 10:00" in mine.text and "2026-11-03 01:00" not in mine.text


def test_tariff_page_names_a_half_hour_offset(client: TestClient[Any], network: Network) -> None:
    """A tariff in UTC+5:30 (or UTC-3:30) is shown as such, not as the whole hours of
    minutes // 60 (UTC+5, and UTC-4 for -210)."""
    from chaincode.metering.tariffs import DEFAULT_TARIFF
    from tests.webapp.conftest import ADMIN_PASSWORD
    from webapp.pages_metering import zone_name

    assert [zone_name(m) for m in (480, 330, -210, 0, -300)] == ["UTC+8", "UTC+5:30", "UTC-3:30", "UTC", "UTC-5"]
    regulator = network.gateway(network.service_identity("Regulator"))
    tariff_id = f"IN-{uuid.uuid4().hex[:6]}"
    tariff = {**DEFAULT_TARIFF, "tariffId": tariff_id, "utc_offset_minutes": 330}
    regulator.submit(regulator.new_invocation("tariffSet", [tariff_id, json.dumps(tariff)], chaincode="metering"), [creator_party(regulator.identity)])
    shown = _page_session(client, "admin", ADMIN_PASSWORD).get(f"/metering/tariffs/{tariff_id}")
    assert shown.status_code == 200 and "local time UTC+5:30" in shown.text, shown.text[-3000:]


def test_work_order_refusals_keep_their_meaning_in_the_console(client: TestClient[Any], api: Any, meters: dict[str, str]) -> None:
    """An operator acknowledging an alert twice is told it is already done (409), one that does
    not exist is not found (404), as the JSON API says of unknown records; both pages in words."""
    import re

    from webapp import metering_staff

    services = client.app.state.services
    user_id, user = api.register()
    metering_staff.grant(services, user_id, "admin")
    alert_id = next(a["alertId"] for a in _get(client, "/alerts", user, meterId=meters["Org1"])[1])
    http = _page_session(client, user_id, "user-pass-123")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', http.get("/metering/alerts").text)
    assert token is not None
    form = {"_csrf_token": token.group(1)}
    first = http.post(f"/metering/alerts/{alert_id}/ack", data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = http.post(f"/metering/alerts/{alert_id}/ack", data=form, follow_redirects=False)
    assert again.status_code == 409 and "ALERT_ALREADY_ACKED" in again.text
    unknown = http.post("/metering/alerts/NO-SUCH-ALERT/ack", data=form, follow_redirects=False)
    assert unknown.status_code == 404 and "UNKNOWN_ALERT" in unknown.text


def test_a_refused_version_of_an_unknown_tariff_is_named_not_hidden(client: TestClient[Any]) -> None:
    """A version refused for a tariff with no version yet was shown as UNKNOWN_TARIFF (the
    page to show the form on did not exist), hiding why the tariff was refused."""
    import re

    from tests.webapp.conftest import ADMIN_PASSWORD

    http = _page_session(client, "admin", ADMIN_PASSWORD)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', http.get("/metering/tariffs/CN-RES-TOU").text)
    assert token is not None
    tariff_id = f"NEW-{uuid.uuid4().hex[:6]}"
    refused = http.post(f"/metering/tariffs/{tariff_id}/versions", data={"_csrf_token": token.group(1), "tariff": "{not json"}, follow_redirects=False)
    assert refused.status_code == 400 and "<code>BAD_TARIFF</code>" in refused.text and "UNKNOWN_TARIFF" not in refused.text


def test_the_explorer_withholds_meter_data_from_members_who_may_not_read_it(client: TestClient[Any], api: Any, meters: dict[str, str]) -> None:
    """A sign-up refused NOT_METER_STAFF on every meter route read the same readings, alerts
    and bills on the explorer: a readingsSubmit's arguments (the signed batch) and written values,
    and a reading key's history. Now withheld there; a regulator administrator still sees them."""
    import re

    from tests.webapp.conftest import ADMIN_PASSWORD

    user_id, _ = api.register()
    member = _page_session(client, user_id, "user-pass-123")
    key = f"metering/r/{meters['Org1']}/2026-11-03T01:00:00Z"
    history = member.get("/explorer/history", params={"key": key}).text
    tx_id = re.search(r'href="/explorer/tx/([0-9a-f]{64})"', history)
    assert tx_id is not None, history[-2000:]
    assert "peak_w" not in history and "withheld: personal consumption data" in history
    shown = member.get(f"/explorer/tx/{tx_id.group(1)}").text
    assert "readingsSubmit" in shown and 'id="withheld"' in shown
    assert "peak_w" not in shown and "&#34;wh&#34;" not in shown and "20000" not in shown
    regulator = _page_session(client, "admin", ADMIN_PASSWORD)
    assert "peak_w" in regulator.get(f"/explorer/tx/{tx_id.group(1)}").text
    assert "peak_w" in regulator.get("/explorer/history", params={"key": key}).text
    tariff = member.get("/explorer/history", params={"key": "metering/t/CN-RES-TOU"}).text  # tariffs are public
    assert "withheld" not in tariff
