"""The console in a real Chromium: publish, approve, buy, download, transfer, reject, explore."""

from __future__ import annotations

import uuid
from pathlib import Path


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def test_publish_approve_buy_download_and_transfer(admin, approve, person, shoot, tmp_path: Path):
    publisher, researcher, second = person(), person(), person()
    pub_id, res_id, sec_id = uid("grid"), uid("lab"), uid("uni")
    for who, user_id, name in ((publisher, pub_id, "State Grid East"), (researcher, res_id, "Energy Lab"), (second, sec_id, "Tech University")):
        request_id = who.sign_up(user_id, name)
        assert "pending" in who.page.locator(".status").first.inner_text()
        assert approve(admin, request_id) == "committed"
    shoot(admin.page, "review-committed")

    # the publisher uploads a CSV
    csv_bytes = b"timestamp,feeder,load_kw\n2024-03-01T00:00,F1,412.5\n2024-03-01T00:15,F1,398.0\n2024-03-01T00:30,F2,377.25\n"
    dataset = tmp_path / "feeder-load.csv"
    dataset.write_bytes(csv_bytes)
    asset_id = uid("load")
    page = publisher.page
    page.goto("/publish")
    page.set_input_files("input[name=file]", str(dataset))
    page.fill("input[name=asset_id]", asset_id)
    page.fill("input[name=name]", "Feeder load, March 2024")
    page.fill("input[name=price]", "40")
    page.fill("textarea[name=description]", "15-minute feeder load")
    shoot(page, "publish")
    page.click("main button[type=submit]")
    page.wait_for_url("**/my/requests/*")
    enroll_request = publisher.request_id()
    admin.page.goto("/admin/reviews")
    assert admin.page.locator(f"tr[data-request='{enroll_request}']").count() == 1
    shoot(admin.page, "review-queue")
    assert approve(admin, enroll_request) == "committed"

    # the asset page shows preview, columns and hash
    page.goto(f"/market/{asset_id}")
    assert "load_kw" in page.locator("#columns").inner_text()
    assert "412.5" in page.locator("#preview").inner_text()
    shoot(page, "asset")

    # the researcher tops up and buys
    r = researcher.page
    r.goto("/dashboard")
    r.fill("input[name=amount]", "100")
    r.click("text=Request top-up")
    r.wait_for_url("**/my/requests/*")
    assert approve(admin, researcher.request_id()) == "committed"
    r.goto("/market")
    assert r.locator(f"a[href='/market/{asset_id}']").count() == 1
    shoot(r, "market")
    r.click(f"a[href='/market/{asset_id}']")
    r.click("#buy")
    r.wait_for_url("**/my/requests/*")
    buy_request = researcher.request_id()
    assert approve(admin, buy_request) == "committed"
    assert researcher.status(buy_request) == "committed"
    assert "block" in r.locator("#outcome").inner_text()
    r.goto("/dashboard")
    assert r.locator("#balance").inner_text().strip() == "60"
    assert asset_id in r.locator("#holdings").inner_text()
    shoot(r, "dashboard")

    r.goto(f"/market/{asset_id}")
    with r.expect_download() as info:
        r.click("#download")
    downloaded = Path(info.value.path()).read_bytes()
    assert downloaded == csv_bytes

    # transfer between holders: researcher offers, second accepts, admin approves
    s = second.page
    s.goto("/dashboard")
    s.fill("input[name=amount]", "50")
    s.click("text=Request top-up")
    s.wait_for_url("**/my/requests/*")
    assert approve(admin, second.request_id()) == "committed"
    r.goto(f"/market/{asset_id}")
    r.fill("input[name=buyer]", sec_id)
    r.click("#offer")
    r.wait_for_url("**/my/requests/*")
    offer_request = researcher.request_id()
    assert "awaiting acceptance" in r.locator(".status").first.inner_text()
    s.goto(f"/my/requests/{offer_request}")  # before signing, the accepter sees what accepting would do
    dry = s.locator("#dry-run")
    assert "Would commit" in dry.inner_text() and f"user/{sec_id}" in dry.inner_text() and asset_id in dry.inner_text()
    shoot(s, "accept-dry-run")
    for width in (390, 1366):  # the written values scroll inside their table, the page does not overflow
        s.set_viewport_size({"width": width, "height": 900})
        s.goto(f"/my/requests/{offer_request}")
        assert s.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0, width
    s.goto("/dashboard")
    s.click("#offers button")
    s.wait_for_url(f"**/my/requests/{offer_request}")
    assert approve(admin, offer_request) == "committed"
    s.goto("/dashboard")
    assert asset_id in s.locator("#holdings").inner_text()
    r.goto("/dashboard")
    assert asset_id not in r.locator("#holdings").inner_text()
    s.goto(f"/market/{asset_id}")
    assert s.locator("#provenance li").count() == 3
    with s.expect_download() as info:
        s.click("#download")
    assert Path(info.value.path()).read_bytes() == csv_bytes


def test_rejected_request_shows_the_reason(admin, approve, person, shoot):
    user = person()
    user_id = uid("rej")
    assert approve(admin, user.sign_up(user_id, "Someone")) == "committed"
    page = user.page
    page.goto("/dashboard")
    page.fill("input[name=amount]", "900")
    page.click("text=Request top-up")
    page.wait_for_url("**/my/requests/*")
    request_id = user.request_id()
    a = admin.page
    a.goto(f"/admin/reviews/{request_id}")
    a.fill("input[name=reason]", "Top-ups need a payment reference.")
    a.click("#reject")
    a.wait_for_url(f"**/admin/reviews/{request_id}?decided=1")
    page.goto(f"/my/requests/{request_id}")
    assert "rejected" in page.locator(".status").first.inner_text()
    assert page.locator("#reason").inner_text() == "Top-ups need a payment reference."
    shoot(page, "request-rejected")
    page.goto("/dashboard")
    assert page.locator("#balance").inner_text().strip() == "0"


def test_explorer_shows_blocks_and_verifies(admin, shoot):
    page = admin.page
    page.goto("/explorer")
    assert int(page.locator("#height").inner_text()) >= 1
    assert page.locator("#blocks tbody tr").count() >= 1
    assert page.locator("#peers tbody tr").count() == 4
    page.click("#verify")
    page.wait_for_selector("#verdict")
    assert "The ledger is intact" in page.locator("#verdict").inner_text()
    shoot(page, "explorer-verified")
    page.click("#blocks tbody tr:first-child a")
    assert page.locator("#txs tbody tr").count() >= 1
    shoot(page, "block")


def test_script_in_a_name_is_text_in_the_browser(admin, approve, person):
    user = person()
    user_id = uid("xss")
    dialogs: list[str] = []
    user.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    request_id = user.sign_up(user_id, "<script>alert('x')</script>")
    assert approve(admin, request_id) == "committed"
    user.page.goto("/dashboard")
    assert "<script>alert('x')</script>" in user.page.locator(".who").inner_text()
    admin.page.goto("/admin/audit")
    assert dialogs == []
