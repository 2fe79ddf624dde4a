"""The review desk in a real Chromium: a publication as labelled fields with preview and
download, the dry run before deciding, the confirmation with the next pending request, and
a buyer told that the balance is below the price before requesting."""

from __future__ import annotations

import uuid
from pathlib import Path


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def test_review_desk_publication_dry_run_and_confirmation(admin, approve, person, shoot, tmp_path: Path):
    publisher, buyer = person(), person()
    pub_id, buyer_id = uid("dso"), uid("poor")
    for who, user_id, name in ((publisher, pub_id, "Grid West"), (buyer, buyer_id, "Small Lab")):
        assert approve(admin, who.sign_up(user_id, name)) == "committed"

    csv_bytes = b"timestamp,substation,voltage_kv\n2024-05-01T00:00,S1,110.2\n2024-05-01T00:15,S1,109.8\n"
    dataset = tmp_path / "substation-voltage.csv"
    dataset.write_bytes(csv_bytes)
    asset_id = uid("volt")
    page = publisher.page
    page.goto("/publish")
    page.set_input_files("input[name=file]", str(dataset))
    page.fill("input[name=asset_id]", asset_id)
    page.fill("input[name=name]", "Substation voltage, May 2024")
    page.fill("input[name=price]", "75")
    page.fill("textarea[name=description]", "15-minute voltage readings")
    page.click("main button[type=submit]")
    page.wait_for_url("**/my/requests/*")
    enroll_request = publisher.request_id()

    # the reviewer sees labelled fields, the preview, the file and the dry run
    a = admin.page
    a.goto(f"/admin/reviews/{enroll_request}")
    assert a.locator("#pub-name").inner_text() == "Substation voltage, May 2024"
    assert a.locator("#pub-price").inner_text() == "75 tokens"
    assert a.locator("#pub-licence").inner_text().strip() != ""
    assert a.locator("#pub-description").inner_text() == "15-minute voltage readings"
    assert "voltage_kv" in a.locator("#pub-columns").inner_text()
    assert "110.2" in a.locator("#pub-preview").inner_text()
    assert "Would commit" in a.locator("#dry-run").inner_text()
    assert f"asset/{asset_id}" in a.locator("#dry-run").inner_text()
    shoot(a, "review-publication")
    with a.expect_download() as info:
        a.click("#pub-download")
    assert Path(info.value.path()).read_bytes() == csv_bytes

    # approving confirms, in words, and offers the next pending request
    a.click("#approve")
    a.wait_for_url(f"**/admin/reviews/{enroll_request}?decided=1")
    assert "You approved it: committed in block" in a.locator("#decision").inner_text()
    assert a.locator("#next-pending").is_visible()
    assert "committed to the ledger" in a.locator("#status").inner_text()
    shoot(a, "review-decided")
    following = a.locator("#next-pending a").first
    if "Next pending request" in a.locator("#next-pending").inner_text():  # another request waits: its link opens it
        target = following.get_attribute("href")
        following.click()
        a.wait_for_url(f"**{target}")
        assert "waiting for an administrator" in a.locator("#status").inner_text()
    else:  # nothing else waits: the link leads back to the queue
        assert "No other request is waiting for you" in a.locator("#next-pending").inner_text()
        following.click()
        a.wait_for_url("**/admin/reviews")

    # a buyer with no tokens is told before requesting; the dry run names the refusal
    b = buyer.page
    b.goto(f"/market/{asset_id}")
    warning = b.locator("#balance-below")
    assert warning.is_visible() and "below the price" in warning.inner_text()
    shoot(b, "asset-balance-below")
    b.click("#buy")
    b.wait_for_url("**/my/requests/*")
    buy_request = buyer.request_id()
    a.goto(f"/admin/reviews/{buy_request}")
    assert a.locator("#dry-run-code").inner_text() == "INSUFFICIENT_BALANCE"
    a.fill("input[name=reason]", "Top up first.")
    a.click("#reject")
    a.wait_for_url(f"**/admin/reviews/{buy_request}?decided=1")
    assert "You rejected it" in a.locator("#decision").inner_text()

    # with enough tokens the warning is gone
    b.goto("/dashboard")
    b.fill("input[name=amount]", "100")
    b.click("text=Request top-up")
    b.wait_for_url("**/my/requests/*")
    assert approve(admin, buyer.request_id()) == "committed"
    b.goto(f"/market/{asset_id}")
    assert b.locator("#balance-below").count() == 0 and b.locator("#buy").is_visible()
