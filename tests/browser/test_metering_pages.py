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
