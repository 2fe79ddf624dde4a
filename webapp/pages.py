"""Shared helpers of the HTML pages: render a template with the user, read a form, redirect."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Redirect, Template

from webapp.deps import session_of
from webapp.metering_staff import is_staff


def page(request: Request[Any, Any, Any], name: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Template:
    services = request.app.state.services
    context.setdefault("user", session_of(request))
    context.setdefault("meter_staff", is_staff(services, context["user"]))  # the menu offers meters to staff only
    context.setdefault("approver_org", services.chain.approver_org)
    return Template(template_name=name, context=context, status_code=status_code, headers=headers)


def go(path: str) -> Redirect:
    return Redirect(path=path, status_code=303)


def field(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def fields(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


def safe_next(target: str, default: str = "/dashboard") -> str:
    """Only local paths: never an open redirect (no `//host`, no backslash, no control characters)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and target.isprintable() and " " not in target:
        return target
    return default
