"""Pages: sign-up, login, logout, dashboard, top-up, account deletion, one request."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from webapp.deps import requires_login
from webapp.pages import field, go, page, safe_next
from webapp.services import Services
from webapp.sessions import SESSION_COOKIE, UserSession
from webapp.views import request_view

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], services: Services) -> Redirect:
    from webapp.deps import session_of

    return go("/dashboard" if session_of(request) else "/login")


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next: str = "/dashboard") -> Template:
    return page(request, "login.html", next=safe_next(next))


def _with_cookie(response: Response[Any], token: str, services: Services) -> Response[Any]:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure,
        path="/",
        max_age=services.settings.session_ttl_s,
    )
    return response


@post("/login", include_in_schema=False, sync_to_thread=True)
def login_submit(request: Request[Any, Any, Any], data: Form, services: Services) -> Response[Any]:
    client = request.client.host if request.client else "?"
    session = services.accounts.login(field(data, "username"), field(data, "password"), client)
    target = "/admin/reviews" if session.is_admin else safe_next(field(data, "next") or "/dashboard")
    return _with_cookie(go(target), session.token, services)


@post("/logout", include_in_schema=False)
async def logout_submit(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    services.sessions.close(request.cookies.get(SESSION_COOKIE))
    response = go("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/signup", include_in_schema=False)
async def signup_page(request: Request[Any, Any, Any]) -> Template:
    return page(request, "signup.html")


@post("/signup", include_in_schema=False, sync_to_thread=True)
def signup_submit(request: Request[Any, Any, Any], data: Form, services: Services) -> Response[Any]:
    """Creates key, certificate, wallet and the register request, then logs in."""
    username, password = field(data, "username"), field(data, "password")
    if password != field(data, "password2"):
        from webapp.errors import BadInput

        raise BadInput("PASSWORDS_DIFFER", "The two passwords differ.")
    _, identity = services.accounts.sign_up(username, field(data, "display_name"), password)
    req = services.workflow.register(identity, username, field(data, "display_name"))
    client = request.client.host if request.client else "?"
    session = services.accounts.login(username, password, client)
    return _with_cookie(go(f"/my/requests/{req.id}"), session.token, services)


@get("/dashboard", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def dashboard(request: Request[Any, Any, Any], user: UserSession, services: Services) -> Template:
    account = None if user.is_admin else services.chain.query_user(user.username)
    requests = services.workflow.for_user(user.username)
    offers = [r for r in requests if r.counterparty == user.username and r.status == "awaiting_acceptance"]
    return page(request, "dashboard.html", account=account, requests=[request_view(r) for r in requests], offers=[request_view(r) for r in offers])


@post("/account/topup", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def topup_submit(data: Form, user: UserSession, services: Services) -> Redirect:
    req = services.workflow.topup(user, user.username, field(data, "amount"))
    return go(f"/my/requests/{req.id}")


@post("/account/delete", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def delete_submit(data: Form, user: UserSession, services: Services) -> Redirect:
    if field(data, "confirm") != user.username:
        from webapp.errors import BadInput

        raise BadInput("NOT_CONFIRMED", "Type your user id to confirm that the account is to be closed.")
    req = services.workflow.delete(user, user.username)
    return go(f"/my/requests/{req.id}")


@get("/my/requests/{request_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def request_page(request: Request[Any, Any, Any], request_id: str, user: UserSession, services: Services) -> Template:
    req = services.workflow.get_visible(user, request_id)
    return page(request, "request.html", req=request_view(req), audit=services.reviews.audit_log(req.id))


@post("/my/requests/{request_id:str}/accept", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def accept_submit(request_id: str, user: UserSession, services: Services) -> Redirect:
    req = services.workflow.accept(user, request_id)
    return go(f"/my/requests/{req.id}")


ROUTES = [home, login_page, login_submit, logout_submit, signup_page, signup_submit, dashboard, topup_submit, delete_submit, request_page, accept_submit]
