"""Pages: sign-up, login, logout, dashboard, top-up, account deletion, one request."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from webapp.deps import client_of, is_https, requires_login
from webapp.errors import AppError, BadInput, error_headers
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
async def login_page(request: Request[Any, Any, Any], next: str = "", why: str = "") -> Template:
    """`why` (set by the redirect of a request whose session was gone) says why the person is here."""
    return page(request, "login.html", next=safe_next(next) if next else "", notice=LOGIN_NOTICES.get(why, ""))


LOGIN_NOTICES = {
    "expired": "Your session has ended (it expired, you logged out elsewhere, or the console restarted). Log in again to go on.",
    "form": "Your session had ended, so what you last sent was not done. Log in to go back to that page and send it again.",
}


def _with_cookie(request: Request[Any, Any, Any], response: Response[Any], token: str, services: Services) -> Response[Any]:
    """The session cookie: HttpOnly, SameSite=Lax, and Secure over HTTPS or with GRIDLEDGER_COOKIE_SECURE=1."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure or is_https(request),
        path="/",
        max_age=services.settings.session_ttl_s,
    )
    return response


@post("/login", include_in_schema=False, sync_to_thread=True)
def login_submit(request: Request[Any, Any, Any], data: Form, services: Services) -> Response[Any]:
    """A refusal is shown on the login form itself (no redirect that would lose it); success goes to `next`."""
    username, wanted = field(data, "username"), field(data, "next")
    try:
        session = services.accounts.login(username, field(data, "password"), client_of(request))
    except AppError as error:
        return page(request, "login.html", status_code=error.status_code, headers=error_headers(error), error=error, username=username,
                    next=safe_next(wanted) if wanted else "")
    home_page = "/admin/reviews" if session.is_admin else "/dashboard"
    return _with_cookie(request, go(safe_next(wanted, home_page) if wanted else home_page), session.token, services)


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
    username, password, display_name = field(data, "username"), field(data, "password"), field(data, "display_name")
    client = client_of(request)
    try:
        if password != field(data, "password2"):
            raise BadInput("PASSWORDS_DIFFER", "The two passwords differ.")
        _, identity = services.accounts.sign_up(username, display_name, password, client)
    except AppError as error:  # shown on the form, with what was typed (never the passwords)
        return page(request, "signup.html", status_code=error.status_code, headers=error_headers(error), error=error,
                    username=username, display_name=display_name)
    req = services.workflow.register(identity, username, display_name)
    session = services.accounts.login(username, password, client)
    return _with_cookie(request, go(f"/my/requests/{req.id}"), session.token, services)


@get("/dashboard", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def dashboard(request: Request[Any, Any, Any], user: UserSession, services: Services) -> Template:
    account = None if user.is_admin else services.chain.query_user(user.username)
    requests = services.workflow.for_user(user.username)
    offers = [r for r in requests if r.counterparty == user.username and r.status == "awaiting_acceptance"]
    sales = services.market.sales_of(user.username) if account else []
    return page(
        request, "dashboard.html", account=account, requests=[request_view(r) for r in requests], offers=[request_view(r) for r in offers], sales=sales
    )


@post("/account/topup", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def topup_submit(data: Form, user: UserSession, services: Services) -> Redirect:
    req = services.workflow.topup(user, user.username, field(data, "amount"))
    return go(f"/my/requests/{req.id}")


@post("/account/delete", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def delete_submit(data: Form, user: UserSession, services: Services) -> Redirect:
    if field(data, "confirm") != user.username:
        raise BadInput("NOT_CONFIRMED", "Type your user id to confirm that the account is to be closed.")
    req = services.workflow.delete(user, user.username)
    return go(f"/my/requests/{req.id}")


@get("/my/requests/{request_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def request_page(request: Request[Any, Any, Any], request_id: str, user: UserSession, services: Services) -> Template:
    req = services.workflow.get_visible(user, request_id)
    accepting = req.status == "awaiting_acceptance" and req.counterparty == user.username
    simulated = services.workflow.acceptance_dry_run(user, req.id) if accepting else None
    return page(request, "request.html", req=request_view(req), audit=services.reviews.audit_log(req.id), dry_run=simulated)


@post("/my/requests/{request_id:str}/accept", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def accept_submit(request_id: str, user: UserSession, services: Services) -> Redirect:
    req = services.workflow.accept(user, request_id)
    return go(f"/my/requests/{req.id}")


@get("/people/{user_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def profile_page(request: Request[Any, Any, Any], user_id: str, services: Services) -> Template:
    """A member's public profile: name and organization only."""
    return page(request, "profile.html", profile=services.catalog.profile(user_id))


ROUTES = [profile_page, home, login_page, login_submit, logout_submit, signup_page, signup_submit, dashboard, topup_submit, delete_submit, request_page, accept_submit]
