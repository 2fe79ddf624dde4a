"""Leaving and losing a session in a real browser: Back after logout shows no one's page,
and a form sent after the session ended comes back to its page after login, saying so."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Person


def test_back_after_logout_asks_the_server_again(approve: Any, admin: Person, person: Any) -> None:
    alice = person()
    request_id = alice.sign_up("back-button-tester", "Back Button Tester")
    assert approve(admin, request_id).startswith("committed")
    page = alice.page
    page.goto("/dashboard")
    assert page.locator("h1").first.inner_text() == "Dashboard"
    page.click("form[action='/logout'] button")
    page.wait_for_url("**/login")
    page.go_back()
    page.wait_for_url("**/login?next=/dashboard")  # not the cached dashboard with its balance
    assert page.locator("text=Balance").count() == 0


def test_a_form_sent_after_the_session_ended_returns_to_its_page(approve: Any, admin: Person, person: Any, live_server: str) -> None:
    bob = person()
    username = "session-ended-tester"
    request_id = bob.sign_up(username, "Session Ended Tester")
    assert approve(admin, request_id).startswith("committed")
    page = bob.page
    page.goto("/dashboard")
    kept = [c for c in bob.context.cookies() if c["name"] != "gl_session"]
    bob.context.clear_cookies()
    bob.context.add_cookies([*kept, {"name": "gl_session", "value": "gone", "url": live_server}])  # the server no longer knows it
    page.fill("input[name=amount]", "5")
    page.click("form[action='/account/topup'] button")
    page.wait_for_url("**/login?next=/dashboard&why=form")
    assert "what you last sent was not done" in page.locator("#login-notice").inner_text()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "user-pass-123")
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard")  # its page again, not "This address does not accept that method"
    assert page.locator("h1").first.inner_text() == "Dashboard"
    assert page.locator("text=Adds 5 tokens").count() == 0  # nothing was requested behind the person's back


def test_a_form_re_shown_at_its_post_only_address_returns_to_its_page(browser: Any, live_server: str) -> None:
    """The customer link form, refused, is shown again at POST-only /metering/customers/link.
    Sent again after the session ended, logging in went back to that address with GET: "This
    address does not accept that method" (405). Now its form's page."""
    regulator = Person(browser, live_server)
    regulator.log_in("admin", "admin-pass-123")
    page = regulator.page
    page.goto("/metering/customers")
    for selector, value in (("#cust-username", "nobody-at-all"), ("#cust-meter", "no-such-meter"), ("#cust-name", "A Person"),
                            ("#cust-id", "110101199001011234"), ("#cust-bank", "6222020200112233")):
        page.fill(selector, value)
    page.click("#cust-link")
    page.wait_for_url("**/metering/customers/link")
    assert page.locator("#form-error").is_visible()  # refused, shown on the form at the address it was posted to
    kept = [c for c in regulator.context.cookies() if c["name"] != "gl_session"]
    regulator.context.clear_cookies()
    regulator.context.add_cookies([*kept, {"name": "gl_session", "value": "gone", "url": live_server}])
    page.click("#cust-link")
    page.wait_for_url("**/login?next=/metering/customers/link&why=form")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-pass-123")
    page.click("main button[type=submit]")
    page.wait_for_url("**/metering/customers")
    assert page.locator("h1").first.inner_text() == "Customers"
    regulator.context.close()
