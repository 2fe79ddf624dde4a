"""Metering pages in Chromium: the meter page (consumption chart, chain check, alerts, bills),
the bill with its lines and formula, and the alert queue (scoping is tested in tests/webapp)."""

from __future__ import annotations

import uuid
from typing import Any

from conftest_metering import seed_month

from chaincode.metering.tools.client import MeteringClient


def test_meter_bill_and_alert_pages(admin: Any, live_network: Any, shoot: Any) -> None:
    meter_id = f"WEB-{uuid.uuid4().hex[:6]}"
    bill = seed_month(MeteringClient(live_network), meter_id)
    page = admin.page
    page.goto("/metering")
    page.wait_for_selector(f"#meters a:text('{meter_id}')")
    batches = page.locator("#meters tr", has_text=meter_id).locator("td").nth(6).inner_text()
    assert batches == "28", batches  # February's 28 daily batches (the list once left this column empty)
    page.click(f"#meters a:text('{meter_id}')")
    page.wait_for_selector("#meter-id")
    assert page.inner_text("#meter-id") == meter_id
    assert "every meter signature and link holds" in page.inner_text("#chain-verdict")
    assert page.locator("#chart-consumption").count() == 1
    assert "LOAD_OVER_RATED" in page.inner_text("#meter-alerts")
    shoot(page, "metering-meter")
    page.click("#view-month")
    page.wait_for_url("**view=month**")
    assert page.locator("#chart-consumption").count() == 1
    page.click("#meter-bills a")
    page.wait_for_selector("#bill-lines")
    assert int(page.inner_text("#bill-total")) == bill["total_fen"]
    text = page.inner_text("#bill-lines")
    assert "energy, valley" in text and "rounded half up" in text and "tier 1" in text
    assert page.inner_text("#readings-root") == bill["readings_root"]
    shoot(page, "metering-bill")
    page.goto("/metering/alerts")
    row = page.locator("#alerts tr", has_text=meter_id).first
    assert "LOAD_OVER_RATED" in row.inner_text() and "open" in row.inner_text()
    shoot(page, "metering-alerts")


def test_member_works_an_alert_and_reads_the_tariff(admin: Any, approve: Any, person: Any, live_network: Any, shoot: Any) -> None:
    """A sign-up is a plain member: no meter pages (a refusal in words, not a 500, and no
    "Meters" in the menu) until an administrator makes it an operator; then it acknowledges
    and resolves an alert as its operator identity; the regulator admin may not."""
    meter_id = f"WO-{uuid.uuid4().hex[:6]}"
    client = MeteringClient(live_network)
    handle = client.ensure_meter(meter_id, customer="wo", rated_kw="8", region="CN-32-01", voltage_kv="0.4")
    spike = [{"start": "2026-03-02T00:00:00Z", "wh": 100, "varh": 0, "peak_w": 500}, {"start": "2026-03-02T00:15:00Z", "wh": 900, "varh": 0, "peak_w": 4000}]
    assert all(o.ok for o in client.submit_round([(handle, spike)]))
    member = person()
    username = f"crew{uuid.uuid4().hex[:6]}"
    assert approve(admin, member.sign_up(username, "Line Crew")) == "committed"
    page = member.page
    for path in ("/metering", "/metering/alerts", f"/metering/meters/{meter_id}"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        assert "NOT_METER_STAFF" in page.inner_text(".error") and "not its meter staff" in page.inner_text(".error") and meter_id not in page.content()
    assert page.locator("#nav-meters").count() == 0 and page.locator("#nav-my-meters").count() == 1
    shoot(page, "metering-not-staff")
    admin.page.goto("/metering")
    admin.page.click("#staff-link")
    admin.page.fill("#staff-username", username)
    admin.page.click("#staff-grant")
    admin.page.wait_for_selector(f"#staff tr[data-user='{username}']")
    assert "operator" in admin.page.inner_text(f"#staff tr[data-user='{username}']")
    page.goto("/dashboard")
    page.click("#nav-meters")
    page.wait_for_selector(f"#meters a:text('{meter_id}')")
    page.goto(f"/metering/meters/{meter_id}?view=year")  # a refusal page keeps the staff menu
    assert "BAD_VIEW" in page.inner_text(".error") and page.locator("#nav-meters").count() == 1
    page.goto("/metering/alerts")
    row = page.locator("#alerts tr", has_text=meter_id).first
    assert "SPIKE" in row.inner_text() and "open" in row.inner_text()
    row.locator("button.ack").click()
    page.wait_for_load_state()
    row = page.locator("#alerts tr", has_text=meter_id).first
    assert "acknowledged" in row.inner_text() and row.locator("button.ack").count() == 0
    acked = next(a for a in client.query("listAlerts", meter_id) if a["rule"] == "SPIKE")
    assert acked["ackBy"] == f"Org1/{username}+operator"  # the operator identity, not the member's own
    admin.page.goto("/metering/alerts")
    admin_row = admin.page.locator("#alerts tr", has_text=meter_id).first
    admin_row.locator("input[name=evidence]").fill("not theirs")
    admin_row.locator("button.resolve").click()
    admin.page.wait_for_load_state()
    assert "NOT_AUTHORIZED" in admin.page.content()
    row.locator("input[name=evidence]").fill("loose neutral at the meter box, tightened")
    row.locator("button.resolve").click()
    page.wait_for_load_state()
    row = page.locator("#alerts tr", has_text=meter_id).first
    assert "resolved" in row.inner_text()
    shoot(page, "metering-work-order")
    page.goto("/metering/tariffs/CN-RES-TOU")
    assert page.inner_text("#tariff-id") == "CN-RES-TOU" and page.locator("#bands tbody tr").count() == 4 and page.locator("#tiers tbody tr").count() == 3
