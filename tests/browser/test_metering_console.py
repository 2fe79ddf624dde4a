"""Metering console pages in Chromium: settling a month (review, confirm, every meter's
outcome), the year-on-year chart, and a customer's own view (linked by an administrator,
personal data masked)."""

from __future__ import annotations

import uuid
from typing import Any

from conftest_metering import feed_month

from chaincode.metering.tools.client import MeteringClient

ID_NUMBER = "110101199003071234"


def test_settle_yoy_and_customer_view(admin: Any, approve: Any, person: Any, live_network: Any, shoot: Any) -> None:
    meter_id = f"SET-{uuid.uuid4().hex[:6]}"
    client = MeteringClient(live_network)
    handle = client.ensure_meter(meter_id, customer="browser", rated_kw="8", region="CN-32-01", voltage_kv="0.4")
    last_year = [{"start": f"2025-02-10T0{h}:00:00Z", "wh": 5000, "varh": 500, "peak_w": 3000} for h in range(4)]
    assert all(o.ok for o in client.submit_round([(handle, last_year)]))  # February 2025 too: year on year
    feed_month(client, meter_id)
    page = admin.page

    # settle: review, confirm, outcome per meter
    page.goto("/metering")
    page.click("#settle-link")
    page.fill("#settle-period-input", "2026-02")
    page.click("#settle-review")
    page.wait_for_selector("#settle-confirm")
    assert page.inner_text("#settle-period") == "2026-02" and meter_id in page.content()
    assert client.query("listBills", meter_id) == []  # reviewing wrote nothing
    page.click("#settle-confirm")
    page.wait_for_selector("#settle-outcomes")
    row = page.locator(f"#settle-outcomes tr[data-meter='{meter_id}']")
    bill = client.query("queryBill", meter_id, "2026-02")
    assert "billed" in row.inner_text() and f"{bill['total_fen'] / 100:.2f} CNY" in row.inner_text()
    assert bill["settledBy"].startswith("Regulator/")  # signed by the administrator
    shoot(page, "metering-settle")
    page.goto("/metering/settle?period=2026-02")
    page.click("#settle-confirm")
    page.wait_for_selector("#settle-outcomes")
    assert "BILL_EXISTS" in page.locator(f"#settle-outcomes tr[data-meter='{meter_id}']").inner_text()
    page.goto("/metering/settle?period=2026-13")
    assert "BAD_PERIOD" in page.content() and "Traceback" not in page.content()

    # year on year: February 2025 against February 2026
    page.goto(f"/metering/meters/{meter_id}")
    page.click("#view-week")
    page.wait_for_url("**view=week**")
    assert page.locator("#chart-consumption rect.bar").count() == 7  # one bar per day of the week
    bars = page.locator("#chart-yoy rect.bar")
    assert {bars.nth(i).get_attribute("data-series") for i in range(bars.count())} == {"2025", "2026"}
    assert page.locator("#chart-yoy rect.bar[data-series='2025'][data-label='Feb'] title").text_content() == "Feb 2025: 20 kWh"

    # a customer: linked by the administrator, sees its own meter, readings and bill; data masked
    member = person()
    username = f"cust{uuid.uuid4().hex[:6]}"
    assert approve(admin, member.sign_up(username, "Zhang San")) == "committed"
    member.page.goto("/metering/settle")
    assert "NOT_ADMIN" in member.page.content()
    member.page.goto("/metering/my")
    assert member.page.locator("#no-my-meters").count() == 1
    page.goto("/metering/customers")
    for selector, value in (("#cust-username", username), ("#cust-meter", "NO-SUCH-METER"), ("#cust-name", "Zhang San"), ("#cust-id", ID_NUMBER), ("#cust-bank", "6222020200112233")):
        page.fill(selector, value)
    page.click("#cust-link")
    page.wait_for_selector("#form-error")
    assert "UNKNOWN_METER" in page.inner_text("#form-error") and "Traceback" not in page.content()
    # the form keeps what was typed: only the meter is corrected, nothing retyped
    assert page.input_value("#cust-name") == "Zhang San" and page.input_value("#cust-id") == ID_NUMBER
    page.fill("#cust-meter", meter_id)
    page.click("#cust-link")
    page.wait_for_selector(f"#customers td:text('{username}')")
    assert "•1234" in page.inner_text("#customers") and ID_NUMBER not in page.content() and "6222020200112233" not in page.content()
    member.page.goto("/metering/my")
    mine = member.page.locator(".my-meter")
    assert mine.count() == 1 and mine.get_attribute("data-meter") == meter_id
    assert mine.locator(".my-readings tbody tr").count() == 24  # the last local day, 2026-02-28: its 24 hours in UTC+8 (not the 16 of its UTC date)
    assert mine.locator(".my-readings tbody tr").first.inner_text().startswith("2026-02-28 00:00") and ID_NUMBER not in member.page.content()
    shoot(member.page, "metering-customer")
    member.page.goto(f"/metering/my/bills/NOT-{meter_id}/2026-02")
    assert "NOT_YOUR_METER" in member.page.content()
    member.page.goto("/metering/my")
    mine = member.page.locator(".my-meter")
    mine.locator(".my-bills a").click()
    member.page.wait_for_selector("#bill-total")
    assert int(member.page.inner_text("#bill-total")) == bill["total_fen"]


def test_regulator_publishes_a_tariff_version_from_the_console(admin: Any, person: Any, approve: Any) -> None:
    import json

    page = admin.page
    page.goto("/metering/tariffs/CN-RES-TOU")
    before = page.locator("#versions li").count()
    tariff = json.loads(page.input_value("#tariff-json"))
    effective = f"{2030 + before}-01-01"  # later than every earlier version
    page.fill("#tariff-json", json.dumps({**tariff, "effective_from": effective}))
    page.click("#tariff-publish")
    page.wait_for_function(f"document.querySelectorAll('#versions li').length == {before + 1}", timeout=60_000)
    assert f"from {effective}" in page.inner_text("#versions") and page.locator("#bands tbody tr").count() == 4
    refused = json.dumps({**tariff, "effective_from": effective, "tou": tariff["tou"][:2]})
    page.fill("#tariff-json", refused)
    page.click("#tariff-publish")
    page.wait_for_selector("#form-error")
    assert "TARIFF_BANDS_INVALID" in page.inner_text("#form-error") and "Traceback" not in page.content()
    assert json.loads(page.input_value("#tariff-json")) == json.loads(refused)  # the edits are kept to fix, not lost
    page.goto("/metering/tariffs/CN-RES-TOU")
    assert page.locator("#versions li").count() == before + 1  # the refused version wrote nothing
    member = person()
    assert approve(admin, member.sign_up(f"reader{uuid.uuid4().hex[:6]}", "Tariff Reader")) == "committed"
    member.page.goto("/metering/tariffs/CN-RES-TOU")
    assert member.page.locator("#tariff-id").count() == 1 and member.page.locator("#tariff-json").count() == 0
