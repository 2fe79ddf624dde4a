"""Pages fit a 1366 px window and a 390 px phone (no horizontal overflow), and the CSP holds in
Chromium: an injected inline script does not run, and the main pages load without a single
CSP violation."""

from __future__ import annotations

import uuid
from typing import Any

WIDTHS = (1366, 390)
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def _people(admin: Any, approve: Any, person: Any) -> tuple[Any, str]:
    member = person()
    user_id = f"fit{uuid.uuid4().hex[:6]}"
    assert approve(admin, member.sign_up(user_id, "Layout Checker")) == "committed"
    pending = person()
    pending.sign_up(f"wait{uuid.uuid4().hex[:6]}", "Waiting In The Queue")  # leaves a row in the review queue
    return member, user_id


def test_pages_fit_a_window_and_a_phone(admin, approve, person, shoot):
    member, _ = _people(admin, approve, person)
    checked, overflowing = 0, []
    for width in WIDTHS:
        for who, path in ((admin, "/admin/reviews"), (member, "/dashboard"), (member, "/market"), (member, "/explorer"), (member, "/bench"), (admin, "/admin/audit")):
            page = who.page
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(path)
            checked += 1
            if path == "/admin/reviews":
                assert page.locator("tr[data-request]").count() >= 1  # the queue had a row to lay out
            if overflow(page) > 0:
                overflowing.append((width, path, overflow(page)))
                shoot(page, f"overflow-{width}-{path.strip('/').replace('/', '-')}")
    assert checked == 2 * 6 and overflowing == []


def test_csp_blocks_inline_script_and_main_pages_raise_no_violation(admin, approve, person):
    member, _ = _people(admin, approve, person)
    messages: list[str] = []
    for who in (admin, member):
        who.page.set_viewport_size({"width": 1366, "height": 900})
        who.context.add_init_script(RECORD_VIOLATIONS)
        who.page.on("console", lambda msg: messages.append(msg.text))
    pages = [(admin, "/admin/reviews"), (admin, "/admin/audit"), (member, "/dashboard"), (member, "/market"), (member, "/publish"),
             (member, "/explorer"), (member, "/bench"), (member, "/explorer/blocks/0")]
    for who, path in pages:
        who.page.goto(path)
        assert who.page.evaluate("window.__cspViolations") == [], path
    assert not [m for m in messages if "Content Security Policy" in m], messages

    page = member.page
    page.goto("/dashboard")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__inlineRan = true'; document.body.appendChild(s); }""")
    page.wait_for_function("window.__cspViolations.length > 0")  # the violation is reported, not silently ignored
    assert page.evaluate("window.__inlineRan === undefined")
    assert any(v.startswith("script-src") for v in page.evaluate("window.__cspViolations"))
