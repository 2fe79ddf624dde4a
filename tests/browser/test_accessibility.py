"""Accessibility basics on the console's pages, in a real browser: one h1, every form control
with an accessible name, every table with header cells (the request and review pages' history
tables had none: rows of when / who / what / detail a screen reader could not name)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Person

PROBLEMS_JS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (el.type === 'hidden') continue;
    const label = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label');
    const name = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (label && label.innerText.trim())
      || (el.tagName === 'BUTTON' && el.innerText.trim()) || el.getAttribute('title');
    if (!name) problems.push('unnamed control: ' + el.outerHTML.slice(0, 100));
  }
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(h1 + ' h1 elements');
  for (const table of document.querySelectorAll('table')) {
    if (!table.querySelector('th')) problems.push('table without header cells: ' + (table.id || table.className || '?'));
  }
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  return problems;
}"""


def problems_on(who: Person, path: str) -> list[str]:
    who.page.goto(path)
    return [f"{path}: {p}" for p in who.page.evaluate(PROBLEMS_JS)]


def test_pages_name_their_controls_headings_and_table_columns(admin: Person, approve: Any, person: Any) -> None:
    member = person()
    request_id = member.sign_up("a11y-tester", "Accessibility Tester")
    assert approve(admin, request_id).startswith("committed")
    anonymous = person()
    found = [*problems_on(anonymous, "/login"), *problems_on(anonymous, "/signup")]
    for path in ("/dashboard", "/market", "/publish", "/explorer", f"/my/requests/{request_id}", "/people/a11y-tester", "/metering/my"):
        found += problems_on(member, path)
    for path in ("/admin/reviews?status=", f"/admin/reviews/{request_id}", "/admin/audit", "/admin/admins", "/metering/alerts", "/metering/settle", "/metering/customers", "/metering/staff"):
        found += problems_on(admin, path)
    assert found == []
