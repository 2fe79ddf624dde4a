"""A form's POST-only address answers GET with a redirect to the page the form is on.

A refused form is shown again at the address it was posted to (the publish form, a tariff
version, a customer link, a settlement), and the browser's address bar keeps that address.
Reloading it after the session ended, opening it again from the history, or logging in
again with it as `next` (the login sends a form posted without a session back to the page
it came from, its Referer) then asked for it with GET, and a POST-only address answered 405
"This address does not accept that method". Here every such address answers GET with a 303
to its form's page, which asks for a login first when the session is gone.

`FORM_PAGES` names that page for each POST-only page address; `form_page_redirects` refuses
to build a console whose POST-only page address has none, so a new form cannot bring the 405
back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect

from webapp.pages import go

# POST-only page address (as the handler declares it) → the page its form is on (the same
# path parameters, by name, without their types).
FORM_PAGES: dict[str, str] = {
    "/logout": "/",
    "/account/topup": "/dashboard",
    "/account/delete": "/dashboard",
    "/my/requests/{request_id:str}/accept": "/my/requests/{request_id}",
    "/market/{asset_id:str}/buy": "/market/{asset_id}",
    "/market/{asset_id:str}/offer": "/market/{asset_id}",
    "/market/{asset_id:str}/cancel": "/market/{asset_id}",
    "/market/{asset_id:str}/report": "/market/{asset_id}",
    "/admin/reviews/{request_id:str}/approve": "/admin/reviews/{request_id}",
    "/admin/reviews/{request_id:str}/reject": "/admin/reviews/{request_id}",
    "/admin/reviews/bulk-approve": "/admin/reviews",
    "/explorer/verify": "/explorer",
    "/metering/tariffs/{tariff_id:str}/versions": "/metering/tariffs/{tariff_id}",
    "/metering/alerts/{alert_id:str}/ack": "/metering/alerts",
    "/metering/alerts/{alert_id:str}/resolve": "/metering/alerts",
    "/metering/staff/grant": "/metering/staff",
    "/metering/staff/{username:str}/revoke": "/metering/staff",
    "/metering/settle/confirm": "/metering/settle",
    "/metering/customers/link": "/metering/customers",
}


def post_only_paths(routes: list[HTTPRouteHandler]) -> list[str]:
    """The page addresses that take POST and no GET."""
    methods: dict[str, set[str]] = {}
    for handler in routes:
        for path in handler.paths:
            methods.setdefault(path, set()).update(handler.http_methods)
    return sorted(path for path, taken in methods.items() if "POST" in taken and "GET" not in taken)


def _redirect_handler(path: str, form_page: str) -> HTTPRouteHandler:
    async def to_form_page(request: Request[Any, Any, Any]) -> Redirect:
        values = {name: quote(str(value), safe="") for name, value in request.path_params.items()}
        return go(form_page.format(**values))

    to_form_page.__doc__ = f"GET of a form's POST-only address: to {form_page}."
    return get(path, include_in_schema=False, name=f"form-page:{path}")(to_form_page)


def form_page_redirects(routes: list[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """A GET handler for each POST-only page address in `routes`, redirecting to its form's page."""
    paths = post_only_paths(routes)
    missing = [path for path in paths if path not in FORM_PAGES]
    if missing:
        raise RuntimeError(f"POST-only page addresses without a form page in webapp.form_pages.FORM_PAGES: {missing}")
    return [_redirect_handler(path, FORM_PAGES[path]) for path in paths]
